import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileLinks } from '../../src/core/logs/fileLinks';
import { LogStore, rankLogFile, rankLogsIn, rankStatesOf } from '../../src/core/logs/logStore';

const tempRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), 'distest-logs-'));

/** Bytes of the lines as the rank's file holds them (`[r0] text\n`). */
const storedBytes = (lines: { rank: number | null; stream: string; text: string }[]) =>
  lines.reduce((n, l) => n + Buffer.byteLength(`[r${l.rank}${l.stream === 'stderr' ? '!' : ''}] ${l.text}\n`), 0);

test('memory keeps each rank\'s newest lines within ringBytes, text, stream and order intact', async () => {
  const run = await new LogStore({ root: tempRoot(), keepRuns: 10, ringBytes: 4096 }).startRun('ring');
  const texts = (i: number) => `${i % 7 === 0 ? 'ü✓ \x1b[31mred\x1b[0m' : 'plain'} line ${i} of a test printing its progress`;
  for (let i = 0; i < 10_000; i++) run.append(0, i % 3 === 0 ? 'stderr' : 'stdout', texts(i));
  const kept = run.recent(0);
  assert.ok(storedBytes(kept) <= 4096 && storedBytes(kept) > 2048, `kept ${storedBytes(kept)} bytes`);
  assert.deepEqual(kept.map(l => l.seq), kept.map((_, i) => 10_000 - kept.length + i), 'contiguous newest lines');
  assert.deepEqual(kept.map(l => [l.text, l.stream]), kept.map(l => [texts(l.seq), l.seq % 3 === 0 ? 'stderr' : 'stdout']));
  assert.deepEqual(run.recent(0, storedBytes(kept.slice(-3))).map(l => l.seq), [9997, 9998, 9999], 'the newest within a budget');
  run.append(0, 'stdout', 'x'.repeat(5000) + 'END');
  const huge = run.recent(0).at(-1) ?? assert.fail('no lines');
  assert.ok(huge.text.startsWith('…') && huge.text.endsWith('END') && Buffer.byteLength(huge.text) < 2048, 'a line bigger than the ring keeps its end');
  run.close();
});

test('many tiny lines are bounded by the line index, not only by bytes', async () => {
  const run = await new LogStore({ root: tempRoot(), keepRuns: 10, ringBytes: 4096 }).startRun('tiny');
  for (let i = 0; i < 10_000; i++) run.append(1, 'stdout', '');
  const kept = run.recent(1);
  assert.ok(kept.length >= 32 && kept.length <= 64, `${kept.length} lines`);
  run.close();
  assert.equal((await run.readRank(1)).length, '[r1] \n'.length * 10_000);
});

test('a run spills every line to its rank file while memory keeps only the tail', async () => {
  const store = new LogStore({ root: tempRoot(), keepRuns: 10, ringBytes: 4096 });
  const run = await store.startRun('spill');
  const seen: number[] = [];
  run.onLine(l => seen.push(l.seq));
  for (let i = 0; i < 30_000; i++) run.append(i % 3, i % 5 === 0 ? 'stderr' : 'stdout', `rank ${i % 3} line ${i}`);
  run.append(null, 'stderr', 'mpirun noticed that process rank 1 exited on signal 11');
  const huge = 'y'.repeat(10 * 1024 * 1024);
  run.append(2, 'stdout', huge);
  assert.equal(seen.length, 30_002);
  assert.ok(storedBytes(run.recent(1)) <= 4096);
  const merged = run.recent('all');
  assert.deepEqual(merged.map(l => l.seq), [...merged.map(l => l.seq)].sort((a, b) => a - b), 'merged tail in arrival order');
  const shared = run.recent('all', 3000);
  assert.deepEqual(new Set(shared.map(l => l.rank)), new Set([0, 1, 2, null]), 'every rank gets a share of the budget');
  assert.ok(storedBytes(shared) <= 3000);

  const live = await run.readRank(1);
  assert.equal(live.split('\n').filter(Boolean).length, 10_000, 'readable while the run is live');
  run.close();
  const rank1 = (await run.readRank(1)).split('\n');
  assert.equal(rank1.length, 10_001);
  assert.equal(rank1[0], '[r1] rank 1 line 1');
  assert.equal(rank1[3], '[r1!] rank 1 line 10');
  assert.equal(await run.readRank(null), '[mpirun!] mpirun noticed that process rank 1 exited on signal 11\n');
  const rank2 = await run.readRank(2);
  assert.ok(rank2.endsWith(`[r2] ${huge}\n`), 'a 10 MB line is kept whole on disk');
  assert.equal(await run.readRank(7), '', 'a rank that printed nothing');
  const end = await run.readRank(1, 1000);
  const [note, first] = end.split('\n');
  assert.match(note, new RegExp(`^distest: the first \\d+ bytes of this log are not shown; the whole log is ${run.fileOf(1)}$`));
  assert.match(first, /^\[r1!?\] rank 1 line \d+$/, 'the shown part starts at a line');
  assert.ok(end.endsWith('[r1] rank 1 line 29998\n') && end.length < 1200);
});

test('a newer run frees the older run\'s memory; its files stay readable', async () => {
  const store = new LogStore({ root: tempRoot(), keepRuns: 10 });
  const first = await store.startRun('first');
  first.append(0, 'stdout', 'kept on disk');
  first.close();
  assert.equal(first.recent(0).length, 1);
  await store.startRun('second');
  assert.deepEqual(first.recent(0), []);
  assert.equal(await first.readRank(0), '[r0] kept on disk\n');
});

test('only the newest keepRuns run folders stay; other files in the folder are left alone', async () => {
  const root = tempRoot();
  fs.writeFileSync(path.join(root, 'notes.txt'), 'mine');
  const store = new LogStore({ root, keepRuns: 3 });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const run = await store.startRun(`run ${i}`);
    run.append(0, 'stdout', `run ${i}`);
    run.close();
    ids.push(run.id);
  }
  const left = fs.readdirSync(root).sort();
  assert.deepEqual(left, [...ids.slice(2), 'notes.txt'].sort());
  assert.deepEqual(store.runs().map(r => r.id), ids.slice(2));
  assert.equal(await store.latest()?.readRank(0), '[r0] run 4\n');
});

test('rank states: hello makes a rank running; results mark passed, failed, crashed and hung, worst wins', async () => {
  const run = await new LogStore({ root: tempRoot(), keepRuns: 10 }).startRun('states');
  run.setHost(0, 'node-a', 11);
  run.setHost(1, 'node-b', 12);
  assert.deepEqual(run.rankInfos().map(r => [r.rank, r.host, r.state]), [[0, 'node-a', 'running'], [1, 'node-b', 'running']]);
  const failed = rankStatesOf({ id: 't1', ranks: 3, state: 'failed', durationMs: 1, failedRanks: [1], messages: [{ rank: 1, text: 'AssertionError' }] });
  assert.deepEqual([...failed], [[0, 'passed'], [1, 'failed'], [2, 'passed']]);
  const crashed = rankStatesOf({ id: 't2', ranks: 2, state: 'errored', durationMs: 1, failedRanks: [1],
    messages: [{ rank: 1, text: 'rank 1 of 2 never reported a result for this test it started: the launcher says it exited on signal 11' }] });
  assert.deepEqual([...crashed], [[0, 'passed'], [1, 'crashed']]);
  const hung = rankStatesOf({ id: 't3', ranks: 2, state: 'errored', durationMs: 1, failedRanks: [0, 1], messages: [{ rank: null, text: 'timed out after 5 s: no result from ranks 0, 1 of 2' }] });
  assert.deepEqual([...hung], [[0, 'hung'], [1, 'hung']]);
  run.setTestStates('t1', failed);
  run.setTestStates('t2', crashed);
  assert.deepEqual(run.rankInfos().map(r => r.state), ['passed', 'crashed', 'passed']);
  assert.equal(run.testStates.get('t1')?.get(1), 'failed');
  run.close();
});

test('file:line links in log lines: tracebacks, pytest locations, nothing in plain text', () => {
  const line = '  File "/work/app/solver.py", line 42, in step; see tests/test_halo.py:46 and 3.14 ratio';
  const links = fileLinks(line);
  assert.deepEqual(links.map(l => [l.file, l.line, line.slice(l.start, l.start + l.length)]), [
    ['/work/app/solver.py', 42, '/work/app/solver.py", line 42'],
    ['tests/test_halo.py', 46, 'tests/test_halo.py:46'],
  ]);
  assert.deepEqual(fileLinks('rank 1: 100 steps done'), []);
});

test('file links map to local paths: relative from the folder, a remote project root back onto it, others unchanged', async () => {
  const store = new LogStore({ root: tempRoot(), keepRuns: 10 });
  const remote = await store.startRun('remote', { local: '/home/me/proj', run: '/scratch/me/proj' });
  assert.equal(remote.localPath('tests/test_x.py'), '/home/me/proj/tests/test_x.py');
  assert.equal(remote.localPath('/scratch/me/proj/tests/test_x.py'), '/home/me/proj/tests/test_x.py');
  assert.equal(remote.localPath('/usr/lib/python3/dist-packages/mpi4py/__init__.py'), '/usr/lib/python3/dist-packages/mpi4py/__init__.py');
  const local = await store.startRun('local', { local: '/home/me/proj', run: '/home/me/proj' });
  assert.equal(local.localPath('/home/me/proj/a.py'), '/home/me/proj/a.py');
  assert.equal(local.localPath('a.py'), '/home/me/proj/a.py');
  const bare = await store.startRun('no folder');
  assert.equal(bare.localPath('a.py'), undefined);
  assert.equal(bare.localPath('/abs/a.py'), '/abs/a.py');
  for (const run of [remote, local, bare]) run.close();
});

test('a lower keepRuns deletes older run folders at once but never a run still running', async () => {
  const root = tempRoot();
  const store = new LogStore({ root, keepRuns: 5 });
  const running = await store.startRun('still running');
  running.append(0, 'stdout', 'busy');
  const finished: string[] = [];
  for (let i = 0; i < 3; i++) {
    const run = await store.startRun(`run ${i}`);
    run.close();
    finished.push(run.id);
  }
  await store.setKeepRuns(1);
  assert.deepEqual(fs.readdirSync(root).sort(), [running.id, finished[2]].sort());
  assert.deepEqual(store.runs().map(r => r.id), [running.id, finished[2]]);
  running.close();
});

test('the ranks a run folder holds logs of: in rank order, the launcher last; none once the folder is gone', async () => {
  const store = new LogStore({ root: tempRoot(), keepRuns: 10 });
  const run = await store.startRun('a study iteration');
  for (const rank of [10, null, 2, 0]) run.append(rank, 'stdout', 'line');
  run.close();
  fs.writeFileSync(path.join(run.dir, 'notes.txt'), 'not a rank log');
  assert.deepEqual(rankLogsIn(run.dir), [0, 2, 10, null]);
  assert.equal(rankLogFile(run.dir, 2), run.fileOf(2));
  assert.match(fs.readFileSync(rankLogFile(run.dir, null), 'utf8'), /line/);
  await store.discard(run);
  assert.deepEqual(rankLogsIn(run.dir), []);
});
