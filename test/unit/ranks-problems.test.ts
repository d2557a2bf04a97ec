import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RankStreams, type RankLine } from '../../src/core/ranks';
import { LauncherBanners } from '../../src/core/ranks/launcherBanners';
import { rankProblem } from '../../src/core/ranks/rankProblems';

// Recorded with real `mpirun --tag-output` (OpenMPI 4.1.4) by test/fixtures/recorded/record-startup.sh
// and record-openmpi.sh, with this fixed token.
const TOKEN = '0123456789abcdef0123456789abcdef';
const RECORDED = path.resolve(__dirname, '../../../test/fixtures/recorded');

function lines(name: string): RankLine[] {
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
  const out: RankLine[] = [];
  streams.onLine(l => out.push(l));
  for (const stream of ['stdout', 'stderr'] as const) {
    const file = path.join(RECORDED, `${name}.${stream}.txt`);
    if (fs.existsSync(file)) streams.write(stream, fs.readFileSync(file));
  }
  streams.end();
  return out;
}

const stderrOf = (all: RankLine[], rank: number) => all.filter(l => l.rank === rank && l.stream === 'stderr').map(l => l.text);

test('a rank without pytest-mpi: pytest usage error, with the plugin that brings --with-mpi', () => {
  const recorded = lines('openmpi-startup-no-plugin');
  for (const rank of [0, 1]) {
    assert.deepEqual(rankProblem(stderrOf(recorded, rank)), {
      kind: 'error', line: 'pytest: error: unrecognized arguments: --with-mpi (--with-mpi comes from pytest-mpi, which this python does not have)',
    });
  }
});

test('a python without pytest, and a module import failure in a traceback (a tag inside the line joined back)', () => {
  assert.deepEqual(rankProblem(stderrOf(lines('openmpi-startup-no-pytest'), 1)), { kind: 'error', line: '/usr/bin/python3: No module named pytest' });
  const noMpi = lines('openmpi-startup-no-mpi4py');
  for (const rank of [0, 1]) assert.deepEqual(rankProblem(stderrOf(noMpi, rank)), { kind: 'error', line: "ModuleNotFoundError: No module named 'mpi4py'" });
});

test('a test file that is not where the rank runs', () => {
  assert.deepEqual(rankProblem(stderrOf(lines('openmpi-startup-file-not-found'), 0)), {
    kind: 'not-found', path: 'tests/not_on_this_node.py', line: 'ERROR: file or directory not found: tests/not_on_this_node.py::test_x',
  });
});

test('nothing recognisable is no problem: ordinary output, a crash dump without traceback', () => {
  assert.equal(rankProblem(['hello', 'warning: something', '']), undefined);
  assert.equal(rankProblem(stderrOf(lines('openmpi-pytest'), 0)), undefined);
  // An exception line outside any traceback (a test printing it) is not the rank's own.
  assert.equal(rankProblem(['ValueError: printed by a test']), undefined);
});

test('a conftest that fails to import names the conftest and the cause', () => {
  const recorded = lines('openmpi-startup-conftest');
  for (const rank of [0, 1]) {
    const problem = rankProblem(stderrOf(recorded, rank));
    assert.equal(problem?.kind, 'error');
    assert.match(problem.line, /^ImportError while loading conftest \/tmp\/\S+\/tests\/conftest\.py: ModuleNotFoundError: No module named 'missing_dep_for_distest'$/);
  }
});

function condensed(name: string): string[] {
  const banners = new LauncherBanners('mpirun');
  const shown = lines(name).filter(l => l.rank === null).flatMap(l => banners.push(l.text));
  return [...shown, ...banners.end()];
}

test('mpirun banners: one line per event, the failing rank named', () => {
  const usage = condensed('openmpi-startup-no-plugin');
  assert.equal(usage.length, 2, usage.join('\n'));
  assert.equal(usage[0], 'mpirun: Primary job terminated normally, but 1 process returned a non-zero exit code. Per user-direction, the job has been aborted.');
  assert.match(usage[1], /^mpirun: rank [01] exited with code 4$/);
  const crash = condensed('openmpi-crash');
  assert.ok(crash.length >= 1 && crash.length <= 3, crash.join('\n'));
  assert.ok(crash.some(l => /^mpirun: rank 1 on \S+ exited on signal 11 \(Segmentation fault\)$/.test(l)), crash.join('\n'));
});

test('banners: lines outside pass through, a banner cut short is summarised at the end, long ones are bounded', () => {
  const banners = new LauncherBanners('mpiexec');
  assert.deepEqual(banners.push('plain launcher line'), ['plain launcher line']);
  assert.deepEqual(banners.push('-'.repeat(74)), []);
  for (let i = 0; i < 500; i++) assert.deepEqual(banners.push(`word ${i}`), []);
  const [summary] = banners.end();
  assert.ok(summary.startsWith('mpiexec: word 0 word 1'), summary);
  assert.ok(summary.endsWith('… (full text in the rank logs)'), summary);
  assert.ok(summary.length < 320);
  assert.deepEqual(banners.end(), []);
});
