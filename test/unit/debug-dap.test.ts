import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DapReader, encodeDap, PauseTracker, type DapMessage } from '../../src/core/debug/dap';
import { formatRankSelection, parseRankSelection, RankSelectionError, selectsRank } from '../../src/core/debug/request';

test('rank selections: all, single ranks, ranges, spaces; bad input is a clear error', () => {
  assert.equal(parseRankSelection('all'), 'all');
  assert.deepEqual(parseRankSelection('0'), [0]);
  assert.deepEqual(parseRankSelection(' 3, 0,2-3 '), [0, 2, 3]);
  assert.equal(formatRankSelection([0, 2, 3, 4, 7]), '0,2-4,7');
  assert.equal(formatRankSelection('all'), 'all');
  assert.ok(selectsRank([0, 2], 2) && !selectsRank([0, 2], 1) && selectsRank('all', 9));
  for (const bad of ['', 'x', '1-', '3-1', '-1', '1,,2']) assert.throws(() => parseRankSelection(bad), RankSelectionError, bad);
  assert.throws(() => parseRankSelection('3-1'), /from the lower rank to the higher/);
});

test('DAP messages are cut out of arbitrary chunks, multi-byte text included', () => {
  const got: DapMessage[] = [];
  const reader = new DapReader(m => got.push(m));
  const wire = Buffer.concat([encodeDap({ seq: 1, type: 'event', event: 'output', body: { output: 'héllo ✓' } }), encodeDap({ seq: 2, type: 'event', event: 'stopped', body: { threadId: 1 } })]);
  for (let i = 0; i < wire.length; i += 7) reader.push(wire.subarray(i, i + 7));
  assert.deepEqual(got.map(m => [m.seq, m.event]), [[1, 'output'], [2, 'stopped']]);
  assert.equal(got[0].body?.output, 'héllo ✓');
});

test('pause tracking: stopped pauses; continued, a resuming request, termination or a lost client resumes', () => {
  const changes: boolean[] = [];
  const tracker = new PauseTracker(p => changes.push(p));
  tracker.fromAdapter({ type: 'event', event: 'stopped', body: { threadId: 1, reason: 'breakpoint' } });
  tracker.fromAdapter({ type: 'event', event: 'stopped', body: { threadId: 2, reason: 'breakpoint' } });
  tracker.fromAdapter({ type: 'event', event: 'continued', body: { threadId: 1, allThreadsContinued: false } });
  assert.equal(tracker.paused, true, 'thread 2 is still stopped');
  tracker.fromClient({ type: 'request', command: 'continue', arguments: { threadId: 2 } });
  tracker.fromAdapter({ type: 'event', event: 'stopped', body: { threadId: 1, reason: 'step' } });
  tracker.fromAdapter({ type: 'event', event: 'terminated' });
  tracker.fromAdapter({ type: 'event', event: 'stopped', body: { reason: 'pause', allThreadsStopped: true } });
  tracker.clear();
  assert.deepEqual(changes, [true, false, true, false, true, false]);
});
