// Stack parsing and grouping on faulthandler and gdb output recorded from real runs (test/fixtures/recorded).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RankStderr } from '../../src/core/faults/capture';
import { parseGdbCore } from '../../src/core/faults/cores';
import { findCrashes } from '../../src/core/faults/crash';
import { groupMessages, groupStacks, mainThread, parseFaulthandler } from '../../src/core/faults/stacks';
import { ProjectPaths } from '../../src/core/projectPaths';
import { RankStreams, type RankLine } from '../../src/core/ranks/demux';
import { parseLauncherFailure } from '../../src/core/ranks/launcherFailure';
import type { StackFrame } from '../../src/core/types';
import { RECORDED } from './recorded';

const ROOT = '/work/main/test/fixtures/faults-project';

/** The recorded mpirun stderr, demuxed per rank as a run sees it. */
function rankLines(file: string): RankLine[] {
  const streams = new RankStreams({ token: 'x'.repeat(32), tagStyle: 'openmpi' });
  const lines: RankLine[] = [];
  streams.onLine(l => lines.push(l));
  streams.write('stderr', fs.readFileSync(path.join(RECORDED, file)));
  streams.end();
  return lines;
}

function stderrOf(lines: RankLine[]): RankStderr {
  const stderr = new RankStderr();
  for (const l of lines) if (l.rank !== null) stderr.push(l.rank, l.text);
  return stderr;
}

test('faulthandler SIGUSR1 dumps through mpirun: one dump per rank, innermost frame in the test file', () => {
  const stderr = stderrOf(rankLines('faulthandler-sigusr1-openmpi.txt'));
  const stacks = new Map<number, StackFrame[]>();
  for (const rank of [0, 1]) {
    const dumps = parseFaulthandler(stderr.since(rank));
    assert.equal(dumps.length, 1);
    assert.equal(dumps[0].fatal, undefined);
    const thread = mainThread(dumps[0], new ProjectPaths(ROOT));
    assert.ok(thread?.current);
    assert.deepEqual(thread.frames[0], { file: `${ROOT}/tests/test_faults.py`, line: 19, function: 'test_deadlock_both_recv' });
    assert.equal(thread.frames.at(-1)?.function, '_run_module_as_main');
    stacks.set(rank, thread.frames);
  }
  const groups = groupStacks(stacks, new ProjectPaths(ROOT));
  assert.deepEqual(groups.map(g => [g.ranks, g.where?.file, g.where?.line]), [[[0, 1], 'tests/test_faults.py', 19]]);
  const [message] = groupMessages(groups, new ProjectPaths('/nonexistent'), { one: 'waits', many: 'wait' }, () => 'vm');
  assert.equal(message.rank, null);
  assert.equal(message.file, 'tests/test_faults.py');
  assert.match(message.text, /^ranks 0, 1 \(vm\) wait in test_deadlock_both_recv\(\) at tests\/test_faults\.py:19\n/);
});

test('different stacks make different groups, largest first', () => {
  const at = (line: number): StackFrame[] => [{ file: `${ROOT}/t.py`, line, function: 'f' }, { file: '/usr/lib/python3/x.py', line: 1, function: 'g' }];
  const groups = groupStacks(new Map([[0, at(42)], [1, at(57)], [2, at(42)], [3, at(42)]]), new ProjectPaths(ROOT));
  assert.deepEqual(groups.map(g => [g.ranks, g.where?.line]), [[[0, 2, 3], 42], [[1], 57]]);
});

test('workspace files: inside the root and not an installed package', () => {
  assert.equal(new ProjectPaths('/p').workspaceFile('/p/tests/a.py'), 'tests/a.py');
  assert.equal(new ProjectPaths('/p').workspaceFile('/p/.venv/lib/python3.11/site-packages/m.py'), null);
  assert.equal(new ProjectPaths('/p').workspaceFile('/usr/lib/python3/dist-packages/_pytest/python.py'), null);
  assert.equal(new ProjectPaths('/p').workspaceFile('<frozen runpy>'), null);
});

test('a segfault through mpirun: SIGSEGV on rank 1 at the test line, host from the launcher', () => {
  const lines = rankLines('openmpi-crash.stderr.txt');
  const launcher = lines.filter(l => l.rank === null).map(l => l.text).join('\n');
  const crashes = findCrashes({
    paths: new ProjectPaths('/work/main/test/fixtures/mpi-project'), processes: new Map(), failures: parseLauncherFailure(launcher),
    stderr: stderrOf(lines), singleRank: false,
  });
  assert.equal(crashes.length, 1);
  const { fault, message } = crashes[0];
  assert.deepEqual([fault.kind, fault.rank, fault.host, fault.signal, fault.file, fault.line], ['signal', 1, 'vm', 'SIGSEGV', 'tests/test_crash.py', 12]);
  assert.match(message.text, /^SIGSEGV on rank 1 \(vm\) \(Fatal Python error: Segmentation fault\) in test_rank_1_segfaults\(\) at tests\/test_crash\.py:12/);
});

test('gdb on a core: thread ids, signal, native frames and the Python stack', () => {
  const analysis = parseGdbCore(fs.readFileSync(path.join(RECORDED, 'gdb-core-bt-pybt.txt'), 'utf8'));
  assert.deepEqual(analysis.threads, [12512]);
  assert.equal(analysis.signal, 'SIGSEGV');
  assert.match(analysis.native.split('\n')[1], /string_at \(ptr=0x0, size=-1\) at \.\/Modules\/_ctypes\/_ctypes\.c:5564/);
  assert.deepEqual(analysis.python, [
    { file: '/usr/lib/python3.11/ctypes/__init__.py', line: 519, function: 'string_at' },
    { file: '<string>', line: 1, function: '<module>' },
  ]);
});
