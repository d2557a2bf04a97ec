import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { aggregate, type LaunchOutcome } from '../../src/core/ranks/aggregate';
import { RankStreams } from '../../src/core/ranks/demux';
import { parseLauncherFailure } from '../../src/core/ranks/launcherFailure';
import type { AgentRecord, Outcome, Phase, RankRecord } from '../../src/core/types';
import { RECORDED, RECORDED_TOKEN as TOKEN } from './recorded';

const OK: LaunchOutcome = { exitCode: 0, signal: null };

/** Records and launcher text of a recorded real mpirun run (see record-openmpi.sh). */
function replay(name: string): { records: AgentRecord[]; launcherText: string } {
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
  const records: AgentRecord[] = [];
  const launcher: string[] = [];
  streams.onRecord(r => records.push(r));
  streams.onLine(l => l.rank === null && launcher.push(l.text));
  for (const stream of ['stdout', 'stderr'] as const) streams.write(stream, fs.readFileSync(path.join(RECORDED, `${name}.${stream}.txt`)));
  streams.end();
  return { records, launcherText: launcher.join('\n') };
}

const T = 'tests/test_x.py::test_y';
const hello = (rank: number, size: number, tests = [T]): AgentRecord => ({ kind: 'hello', rank, size, host: 'h', pid: 100 + rank, tests });
const start = (rank: number, test = T): AgentRecord => ({ kind: 'start', rank, test });
const bye = (rank: number): AgentRecord => ({ kind: 'bye', rank });
function res(rank: number, outcome: Outcome, extra: Partial<RankRecord> = {}, phase: Phase = 'call'): RankRecord {
  return { kind: 'result', rank, size: 2, host: 'h', test: T, phase, outcome, durationMs: 10, ...extra };
}
/** A rank that said hello, started T, reported `results` and said bye. */
const rankRun = (rank: number, size: number, ...results: RankRecord[]): AgentRecord[] => [hello(rank, size), start(rank), ...results, bye(rank)];

test('recorded run: test_fails_on_rank_1[3] fails on rank 1 only, at the assert line', () => {
  const { records, launcherText } = replay('openmpi-pytest');
  const [failing, serial] = aggregate([{ id: 'tests/test_parallel.py::test_fails_on_rank_1[3]', ranks: 3 }, { id: 'tests/test_parallel.py::test_serial', ranks: 3 }],
    records, { exitCode: 1, signal: null, launcherText });
  assert.equal(failing.state, 'failed');
  assert.deepEqual(failing.failedRanks, [1]);
  assert.equal(failing.messages.length, 1);
  const [message] = failing.messages;
  assert.equal(message.rank, 1);
  assert.equal(message.file, 'tests/test_parallel.py');
  assert.equal(message.line, 19);
  assert.equal(message.text.split('\n')[0], 'rank 1 of 3: AssertionError: rank 1 disagrees at tests/test_parallel.py:19');
  assert.match(message.text, /assert value != 1/);
  assert.equal(serial.state, 'passed');
  assert.deepEqual(serial.messages, []);
});

test('recorded crash: the segfaulted rank never reported, with the signal from mpirun\'s text', () => {
  const { records, launcherText } = replay('openmpi-crash');
  assert.deepEqual(parseLauncherFailure(launcherText), [{ rank: 1, pid: 0, host: 'vm', signal: 11, description: 'Segmentation fault' }]);
  const [crash] = aggregate([{ id: 'tests/test_crash.py::test_rank_1_segfaults', ranks: 2 }], records, { exitCode: 139, signal: null, launcherText });
  assert.equal(crash.state, 'errored');
  assert.deepEqual(crash.failedRanks, [0, 1]);
  const rank1 = crash.messages.find(m => m.rank === 1);
  assert.equal(rank1?.text, 'rank 1 of 2 never reported a result for this test it started: the launcher says it exited on signal 11 (Segmentation fault)');
  const rank0 = crash.messages.find(m => m.rank === 0);
  assert.equal(rank0?.text, 'rank 0 of 2 never reported a result for this test it started: the launcher ended the job after rank 1 exited on signal 11 (Segmentation fault)');
});

test('passes only when every rank passed; duration is the slowest rank\'s sum of phases', () => {
  const records = [...rankRun(0, 2, res(0, 'passed', { durationMs: 5 })), ...rankRun(1, 2, res(1, 'passed', { durationMs: 7 }), res(1, 'passed', { durationMs: 1 }, 'teardown'))];
  assert.deepEqual(aggregate([{ id: T, ranks: 2 }], records, OK), [{ id: T, ranks: 2, state: 'passed', durationMs: 8, failedRanks: [], messages: [] }]);
});

test('failures on several ranks: one message per rank in rank order, failedRanks sorted', () => {
  const fail = (rank: number) => res(rank, 'failed', { message: 'AssertionError: x\nassert 0', location: { file: 'tests/test_x.py', line: 42 }, text: 'traceback' });
  const records = [...rankRun(3, 4, fail(3)), ...rankRun(0, 4, res(0, 'passed')), ...rankRun(1, 4, fail(1)), ...rankRun(2, 4, res(2, 'passed'))];
  const [r] = aggregate([{ id: T, ranks: 4 }], records, { exitCode: 1, signal: null });
  assert.equal(r.state, 'failed');
  assert.deepEqual(r.failedRanks, [1, 3]);
  assert.deepEqual(r.messages.map(m => [m.rank, m.line, m.text.split('\n')[0]]), [
    [1, 42, 'rank 1 of 4: AssertionError: x at tests/test_x.py:42'], [3, 42, 'rank 3 of 4: AssertionError: x at tests/test_x.py:42'],
  ]);
  assert.equal(r.messages[1].text, 'rank 3 of 4: AssertionError: x at tests/test_x.py:42\nassert 0\n\ntraceback');
});

test('skipped everywhere is skipped with the reason; skipped on some and passed on the rest is passed, said so', () => {
  const skip = (rank: number) => res(rank, 'skipped', { message: 'not on this machine', location: { file: 'tests/test_x.py', line: 9 } }, 'setup');
  const [all] = aggregate([{ id: T, ranks: 2 }], [...rankRun(0, 2, skip(0)), ...rankRun(1, 2, skip(1))], OK);
  assert.equal(all.state, 'skipped');
  assert.deepEqual(all.messages, [{ rank: null, text: 'not on this machine', file: 'tests/test_x.py', line: 9 }]);
  const [some] = aggregate([{ id: T, ranks: 3 }], [...rankRun(0, 3, res(0, 'passed')), ...rankRun(1, 3, skip(1)), ...rankRun(2, 3, skip(2))], OK);
  assert.equal(some.state, 'passed');
  assert.equal(some.messages[0].text, 'skipped on ranks 1, 2 of 3 (not on this machine); passed on the others');
});

test('setup and teardown errors make the test errored even when another rank failed', () => {
  const records = [...rankRun(0, 2, res(0, 'error', { message: 'RuntimeError: fixture broke' }, 'setup')),
    ...rankRun(1, 2, res(1, 'failed', { message: 'AssertionError' }), res(1, 'error', { message: 'OSError: teardown' }, 'teardown'))];
  const [r] = aggregate([{ id: T, ranks: 2 }], records, { exitCode: 1, signal: null });
  assert.equal(r.state, 'errored');
  assert.deepEqual(r.failedRanks, [0, 1]);
  assert.deepEqual(r.messages.map(m => m.text), ['rank 0 of 2: error in setup: RuntimeError: fixture broke', 'rank 1 of 2: AssertionError', 'rank 1 of 2: error in teardown: OSError: teardown']);
});

test('a collection error of the file stands for the tests in it; an import error names the rank\'s host and python', () => {
  const collect: RankRecord = { ...res(0, 'error', { message: "ModuleNotFoundError: No module named 'nope'", location: { file: 'tests/test_x.py', line: 1 } }, 'setup'), test: 'tests/test_x.py' };
  const [r] = aggregate([{ id: T, ranks: 1 }], [hello(0, 1, []), collect, bye(0)], { exitCode: 2, signal: null, python: '/usr/bin/python3' });
  assert.equal(r.state, 'errored');
  assert.deepEqual(r.messages, [{ rank: 0, text: "rank 0 of 1: error collecting tests/test_x.py: ModuleNotFoundError: No module named 'nope' (rank 0 on h, python /usr/bin/python3) at tests/test_x.py:1", file: 'tests/test_x.py', line: 1 }]);
  const syntax: RankRecord = { ...collect, message: "SyntaxError: '(' was never closed", location: { file: 'tests/test_x.py', line: 6 } };
  const [s] = aggregate([{ id: T, ranks: 1 }], [hello(0, 1, []), syntax, bye(0)], { exitCode: 2, signal: null, python: '/usr/bin/python3' });
  assert.equal(s.messages[0].text, "rank 0 of 1: error collecting tests/test_x.py: SyntaxError: '(' was never closed at tests/test_x.py:6");
});

test('ranks that never reported are named with what is known about them', () => {
  const other = 'tests/test_x.py::test_other';
  const records: AgentRecord[] = [hello(0, 4, [T, other]), start(0, other), res(0, 'passed', { test: other }), bye(0), hello(1, 4, [other]), bye(1), hello(2, 4, [T, other])];
  const [r] = aggregate([{ id: T, ranks: 4 }], records, { exitCode: null, signal: 'SIGKILL' });
  assert.equal(r.state, 'errored');
  assert.deepEqual(r.failedRanks, [0, 1, 2, 3]);
  assert.deepEqual(r.messages.map(m => m.text), [
    'rank 0 of 4 finished without running this test: the launcher was killed by SIGKILL',
    'rank 1 of 4 did not collect this test: the launcher was killed by SIGKILL',
    'rank 2 of 4 never reported: it did not get to this test: the launcher was killed by SIGKILL',
    'rank 3 of 4 never reported (it did not get as far as collecting tests): the launcher was killed by SIGKILL',
  ]);
});

test('cancelled and timed out launches error the unfinished tests only', () => {
  const done = 'tests/test_x.py::test_done';
  const records: AgentRecord[] = [hello(0, 1, [done, T]), start(0, done), res(0, 'passed', { test: done }), start(0, T)];
  const expected = [{ id: done, ranks: 1 }, { id: T, ranks: 1 }];
  const cancelled = aggregate(expected, records, { exitCode: null, signal: 'SIGTERM', cancelled: true });
  assert.deepEqual(cancelled.map(r => [r.state, r.messages.map(m => m.text)]), [['passed', []], ['errored', ['cancelled']]]);
  const timedOut = aggregate(expected, records, { exitCode: null, signal: 'SIGTERM', timedOut: true, timeoutMs: 90000 });
  assert.deepEqual(timedOut[1].messages, [{ rank: null, text: 'timed out after 90 s: no result from rank 0 of 1' }]);
  assert.deepEqual(aggregate([{ id: T, ranks: 0 }], [], { exitCode: 1, signal: null })[0].messages, [{ rank: null, text: 'no rank reported anything for this test' }]);
});

test('a launcher-decided rank count takes the ranks from the hellos', () => {
  const records = [...rankRun(0, 2, res(0, 'passed')), ...rankRun(1, 2, res(1, 'passed'))];
  const [r] = aggregate([{ id: T, ranks: 0 }], records, OK);
  assert.equal(r.state, 'passed');
  assert.equal(r.ranks, 0);
});

test('parseLauncherFailure reads OpenMPI, Hydra and srun reports', () => {
  // OpenMPI lines as mpirun 4.1.4 prints them (see the recorded crash); the Hydra block and srun lines
  // are written from their documented formats (neither is installed here).
  const text = [
    'mpirun noticed that process rank 3 with PID 4242 on node n2 exited on signal 9 (Killed).',
    '  Process name: [[18558,1],1]', '  Exit code:    1',
    '=   RANK 5 PID 777 RUNNING AT n5', '=   KILLED BY SIGNAL: 6 (Aborted)',
    '=   RANK 6 PID 778 RUNNING AT n5', '=   EXIT CODE: 3',
    'srun: error: nid001: tasks 7-8,10: Exited with exit code 2',
    'srun: error: nid002: task 11: Segmentation fault (core dumped)\r',
  ].join('\n');
  assert.deepEqual(parseLauncherFailure(text), [
    { rank: 1, exitCode: 1 },
    { rank: 3, pid: 4242, host: 'n2', signal: 9, description: 'Killed' },
    { rank: 5, pid: 777, host: 'n5', signal: 6, description: 'Aborted' },
    { rank: 6, pid: 778, host: 'n5', exitCode: 3 },
    { rank: 7, host: 'nid001', exitCode: 2 }, { rank: 8, host: 'nid001', exitCode: 2 }, { rank: 10, host: 'nid001', exitCode: 2 },
    { rank: 11, host: 'nid002', description: 'Segmentation fault', signal: 11 },
  ]);
  assert.deepEqual(parseLauncherFailure('nothing to see\n'), []);
});
