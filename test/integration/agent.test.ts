import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { assetDir } from '../../src/core/assets';
import { aggregate, type ExpectedTest } from '../../src/core/ranks/aggregate';
import { RankStreams, type RankLine } from '../../src/core/ranks/demux';
import { newFrameToken } from '../../src/core/ranks/frames';
import type { AgentRecord, TestResult } from '../../src/core/types';

// Real mpirun (OpenMPI 4.1.4), real pytest / unittest under Debian's python3 (it has mpi4py and
// pytest-mpi), the agent as built into dist/agent.
const PYTHON = '/usr/bin/python3';
const PROJECT = path.resolve(__dirname, '../../../test/fixtures/mpi-project');
const AGENT = path.join(assetDir(), 'agent');
const LAUNCH_TIMEOUT_MS = 90_000;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-agent-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

interface Launch { records: AgentRecord[]; lines: RankLine[]; launcherText: string; exitCode: number | null; signal: string | null }

/**
 * Runs `mpirun --tag-output --oversubscribe -np <ranks> <command...>` in its own process group with core
 * dumps off, bounded by a timeout that kills the whole group, and demuxes its output.
 */
function mpirun(ranks: number, command: string[], opts: { cwd?: string; pythonPath?: string[]; env?: Record<string, string> } = {}): Promise<Launch> {
  const token = newFrameToken();
  const cwd = opts.cwd ?? PROJECT;
  const env = {
    ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', DISTEST_TOKEN: token,
    PYTHONPATH: [AGENT, ...(opts.pythonPath ?? [PROJECT])].join(path.delimiter), ...opts.env,
  };
  const argv = ['-c', 'ulimit -Sc 0; exec "$@"', 'sh', 'mpirun', '--tag-output', '--oversubscribe', '-np', String(ranks), ...command];
  const child = spawn('/bin/sh', argv, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const streams = new RankStreams({ token, tagStyle: 'openmpi' });
  const launch: Launch = { records: [], lines: [], launcherText: '', exitCode: null, signal: null };
  streams.onRecord(r => launch.records.push(r));
  streams.onLine(l => launch.lines.push(l));
  child.stdout.on('data', (b: Buffer) => streams.write('stdout', b));
  child.stderr.on('data', (b: Buffer) => streams.write('stderr', b));
  const killGroup = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(killGroup, LAUNCH_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup();
      streams.end();
      for (const name of fs.readdirSync(cwd)) if (/^core(\.\d+)?$/.test(name)) fs.rmSync(path.join(cwd, name), { force: true });
      launch.exitCode = code;
      launch.signal = signal;
      launch.launcherText = launch.lines.filter(l => l.rank === null).map(l => l.text).join('\n');
      resolve(launch);
    });
  });
}

const pytest = (...args: string[]) => [PYTHON, '-m', 'pytest', '-p', 'distest_pytest', '-p', 'no:cacheprovider', '--color=no', '-q', ...args];

function results(launch: Launch, expected: ExpectedTest[]): Map<string, TestResult> {
  const all = aggregate(expected, launch.records, { exitCode: launch.exitCode, signal: launch.signal, launcherText: launch.launcherText });
  return new Map(all.map(r => [r.id, r]));
}

function collectOnly(cwd: string, ...args: string[]): string[] {
  const out = execFileSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', ...args], { cwd, env: { ...process.env, PYTHONPATH: PROJECT }, encoding: 'utf8' });
  return out.split('\n').filter(l => l.includes('::'));
}

function helloTests(launch: Launch, rank: number): string[] {
  const hello = launch.records.find(r => r.kind === 'hello' && r.rank === rank);
  assert.ok(hello && hello.kind === 'hello', `no hello from rank ${rank}`);
  return hello.tests;
}

test('pytest_parallel under mpirun -np 3: one rank fails at its assert, a count it cannot serve is skipped', async () => {
  const ids = ['tests/test_parallel.py::test_fails_on_rank_1[3]', 'tests/test_parallel.py::test_sizes[3]', 'tests/test_parallel.py::test_sizes[2]'];
  const launch = await mpirun(3, pytest(...ids));
  for (const rank of [0, 1, 2]) assert.deepEqual(helloTests(launch, rank), ids);
  const byId = results(launch, ids.map(id => ({ id, ranks: 3 })));
  const failing = byId.get(ids[0]) as TestResult;
  assert.equal(failing.state, 'failed');
  assert.deepEqual(failing.failedRanks, [1]);
  assert.equal(failing.messages.length, 1);
  assert.deepEqual([failing.messages[0].rank, failing.messages[0].file, failing.messages[0].line], [1, 'tests/test_parallel.py', 19]);
  assert.equal(failing.messages[0].text.split('\n')[0], 'rank 1 of 3: AssertionError: rank 1 disagrees at tests/test_parallel.py:19');
  assert.equal(byId.get(ids[1])?.state, 'passed');
  const skipped = byId.get(ids[2]) as TestResult;
  assert.equal(skipped.state, 'skipped');
  assert.equal(skipped.messages[0].text, 'needs 2 ranks, world has 3');
  assert.ok(launch.lines.every(l => !l.text.includes('@@distest')));
});

test('parametrized ids in records equal pytest --collect-only ids', async () => {
  const ids = collectOnly(PROJECT, 'tests/test_parallel.py').filter(id => /::test_(allreduce|param)\[/.test(id));
  assert.deepEqual(ids, ['tests/test_parallel.py::test_allreduce[2]', 'tests/test_parallel.py::test_param[False-2]', 'tests/test_parallel.py::test_param[True-2]']);
  const launch = await mpirun(2, pytest(...ids));
  assert.deepEqual(helloTests(launch, 1), ids);
  const byId = results(launch, ids.map(id => ({ id, ranks: 2 })));
  assert.deepEqual(ids.map(id => byId.get(id)?.state), ['passed', 'passed', 'passed']);
  const started = launch.records.filter(r => r.kind === 'start').map(r => (r.kind === 'start' ? r.test : ''));
  assert.deepEqual(started.filter((_, i) => i < 6).sort(), [...ids, ...ids].sort());
});

test('pytest-mpi with --with-mpi: skipped everywhere, per-rank output attributed to the running test', async () => {
  const file = 'tests/test_mpi_marks.py';
  const launch = await mpirun(2, pytest('--with-mpi', '-s', file));
  const ids = collectOnly(PROJECT, file);
  const byId = results(launch, ids.map(id => ({ id, ranks: 2 })));
  assert.equal(byId.get(`${file}::test_skipped_everywhere`)?.state, 'skipped');
  assert.equal(byId.get(`${file}::test_skipped_everywhere`)?.messages[0].text, 'not on this machine');
  for (const id of [`${file}::test_gather`, `${file}::TestHalo::test_exchange`, `${file}::TestHalo::test_prints_per_rank`]) {
    assert.equal(byId.get(id)?.state, 'passed', id);
  }
  for (const rank of [0, 1]) {
    const line = launch.lines.find(l => l.rank === rank && l.text.includes(`hello from rank ${rank}`));
    assert.equal(line?.test, `${file}::TestHalo::test_prints_per_rank`);
  }
});

test('a rank that segfaults never reports; the launcher text names signal 11', async () => {
  const id = 'tests/test_crash.py::test_rank_1_segfaults';
  const launch = await mpirun(2, pytest('--with-mpi', id));
  assert.ok(!launch.records.some(r => r.kind === 'result' && r.rank === 1), 'rank 1 reported a result');
  assert.match(launch.launcherText, /process rank 1 with PID \d+ on node \S+ exited on signal 11/);
  const result = results(launch, [{ id, ranks: 2 }]).get(id) as TestResult;
  assert.equal(result.state, 'errored');
  assert.ok(result.failedRanks.includes(1));
  assert.match(result.messages.find(m => m.rank === 1)?.text ?? '', /^rank 1 of 2 never reported.*: the launcher says it exited on signal 11 \(Segmentation fault\)$/);
  // mpirun relays stdout and stderr through separate pipes, so under load the crash text can arrive
  // before the record that started the test: it then belongs to the rank but to no test.
  assert.ok(launch.lines.some(l => l.rank === 1 && l.stream === 'stderr' && l.text === 'Fatal Python error: Segmentation fault' && (l.test === id || l.test === undefined)));
  assert.ok(!fs.readdirSync(PROJECT).some(n => /^core(\.\d+)?$/.test(n)), 'core file left behind');
});

const UNITTEST_FILE = 'tests/multi_node/test_launcher_unittest.py';
const UNITTEST_IDS = [`${UNITTEST_FILE}::TestWorld::test_rank_zero_fails`, `${UNITTEST_FILE}::TestWorld::test_size`];

function assertUnittestResults(launch: Launch): void {
  const byId = results(launch, UNITTEST_IDS.map(id => ({ id, ranks: 2 })));
  const failing = byId.get(UNITTEST_IDS[0]) as TestResult;
  assert.equal(failing.state, 'failed');
  assert.deepEqual(failing.failedRanks, [0]);
  assert.equal(failing.messages[0].text.split('\n')[0], `rank 0 of 2: AssertionError: 0 == 0 : rank 0 is unlucky at ${UNITTEST_FILE}:11`);
  assert.equal(byId.get(UNITTEST_IDS[1])?.state, 'passed');
}

test('unittest file via python -m distest_unittest under mpirun -np 2', async () => {
  const launch = await mpirun(2, [PYTHON, '-m', 'distest_unittest', UNITTEST_FILE]);
  assert.notEqual(launch.exitCode, 0);
  assert.deepEqual(helloTests(launch, 0), [...UNITTEST_IDS].sort());
  assertUnittestResults(launch);
  const named = await mpirun(2, [PYTHON, '-m', 'distest_unittest', UNITTEST_FILE, 'TestWorld.test_size', 'TestWorld::test_missing']);
  const byId = results(named, [{ id: UNITTEST_IDS[1], ranks: 2 }, { id: `${UNITTEST_FILE}::TestWorld::test_missing`, ranks: 2 }]);
  assert.equal(byId.get(UNITTEST_IDS[1])?.state, 'passed');
  assert.equal(byId.get(`${UNITTEST_FILE}::TestWorld::test_missing`)?.state, 'errored');
});

test('unittest file run by a launcher template we do not control reports through sitecustomize', async () => {
  const launch = await mpirun(2, [PYTHON, UNITTEST_FILE]);
  assertUnittestResults(launch);
});

test('our sitecustomize runs the one it shadows, with and without a run token', () => {
  const other = path.join(scratch, 'other-site');
  fs.mkdirSync(other, { recursive: true });
  const marker = path.join(scratch, 'marker');
  fs.writeFileSync(path.join(other, 'sitecustomize.py'), `open(${JSON.stringify(marker)}, "a").write("ran\\n")\n`);
  for (const token of [undefined, newFrameToken()]) {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: [AGENT, other].join(path.delimiter) };
    if (token) env.DISTEST_TOKEN = token;
    else delete env.DISTEST_TOKEN;
    const loaded = execFileSync(PYTHON, ['-c', 'import sitecustomize, unittest; print(sitecustomize.__file__, getattr(unittest.TestResult, "_distest_installed", False))'], { env, encoding: 'utf8' });
    assert.equal(loaded.trim(), `${path.join(AGENT, 'sitecustomize.py')} ${token ? 'True' : 'False'}`);
  }
  assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\nran\n');
});

test('shell metacharacters in ids, a collection error and a 20 kB failure message survive the trip', async () => {
  const project = path.join(scratch, 'weird');
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'test_weird.py'), [
    'import pytest', '',
    `@pytest.mark.parametrize("v", [1, 2, 3], ids=["a;b", "$(touch pwned)", "it's | x > y"])`,
    'def test_ids(v):', '    assert v', '', '',
    'def test_big_failure():', '    assert False, "x" * 20000', '',
  ].join('\n'));
  fs.writeFileSync(path.join(project, 'test_broken.py'), 'import not_a_module_anywhere\n');
  const ids = collectOnly(project, 'test_weird.py');
  assert.equal(ids.length, 4);
  assert.ok(ids.includes("test_weird.py::test_ids[$(touch pwned)]"));
  const launch = await mpirun(2, pytest(...ids, 'test_broken.py'), { cwd: project, pythonPath: [] });
  assert.ok(!fs.existsSync(path.join(project, 'pwned')));
  const byId = results(launch, [...ids, 'test_broken.py::test_anything'].map(id => ({ id, ranks: 2 })));
  // pytest runs nothing when a file fails to collect: every test errors, the broken one with its cause.
  const broken = byId.get('test_broken.py::test_anything') as TestResult;
  assert.equal(broken.state, 'errored');
  assert.match(broken.messages[0].text, /^rank 0 of 2: error collecting test_broken\.py: ModuleNotFoundError: No module named 'not_a_module_anywhere' \(rank 0 on [^,)]+\) at test_broken\.py:1/);
  assert.ok(ids.every(id => byId.get(id)?.state === 'errored'));

  // One rank: with two, the first rank to exit non-zero makes mpirun kill the other mid-report.
  const run = await mpirun(1, pytest(...ids), { cwd: project, pythonPath: [] });
  assert.deepEqual(helloTests(run, 0), ids);
  const ran = results(run, ids.map(id => ({ id, ranks: 1 })));
  assert.deepEqual(ids.filter(id => id.includes('test_ids')).map(id => ran.get(id)?.state), ['passed', 'passed', 'passed']);
  const big = ran.get('test_weird.py::test_big_failure') as TestResult;
  assert.equal(big.state, 'failed');
  assert.deepEqual(big.failedRanks, [0]);
  assert.ok(big.messages[0].text.includes('x'.repeat(20000)));
  assert.equal(big.messages[0].line, 9);
});
