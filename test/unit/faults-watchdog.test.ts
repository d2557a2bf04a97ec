import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HangWatchdog } from '../../src/core/faults/watchdog';

function clock() {
  const c = { t: 1000, now: () => c.t };
  return c;
}

test('a rank overrunning its test limit expires with that test; others use the default', () => {
  const c = clock();
  const dog = new HangWatchdog({ defaultMs: 10_000, testLimitMs: id => (id === 'slow' ? undefined : 3000), now: c.now });
  dog.record({ kind: 'hello', rank: 0, size: 2, host: 'h', pid: 5, tests: [] });
  dog.record({ kind: 'hello', rank: 1, size: 2, host: 'h', pid: 6, tests: [] });
  dog.record({ kind: 'start', rank: 0, test: 'quick' });
  dog.record({ kind: 'start', rank: 1, test: 'quick' });
  c.t += 2900;
  assert.equal(dog.check(), null);
  dog.record({ kind: 'start', rank: 0, test: 'slow' });
  c.t += 200;
  assert.deepEqual(dog.check(), { reason: 'timeout', limitMs: 3000, test: 'quick' });
  assert.equal(dog.testOf(0), 'slow');
  assert.deepEqual(dog.processes.get(1), { rank: 1, host: 'h', pid: 6 });
});

test('start-up counts against the default; silence is off unless set', () => {
  const c = clock();
  const dog = new HangWatchdog({ defaultMs: 5000, now: c.now });
  c.t += 5001;
  assert.deepEqual(dog.check(), { reason: 'timeout', limitMs: 5000 });
  const quiet = new HangWatchdog({ silenceMs: 1000, now: c.now });
  c.t += 900;
  quiet.activity();
  c.t += 900;
  assert.equal(quiet.check(), null);
  c.t += 200;
  assert.deepEqual(quiet.check(), { reason: 'silence', limitMs: 1000 });
});

test('a hold (a rank paused in the debugger) stops every clock; the paused time does not count afterwards', () => {
  const c = clock();
  const dog = new HangWatchdog({ defaultMs: 3000, silenceMs: 2000, now: c.now });
  dog.record({ kind: 'hello', rank: 0, size: 1, host: 'h', pid: 5, tests: [] });
  dog.record({ kind: 'start', rank: 0, test: 't' });
  c.t += 1500;
  dog.hold('pause:0');
  dog.hold('wait:1');
  c.t += 60_000;
  assert.equal(dog.check(), null);
  dog.release('pause:0');
  assert.equal(dog.check(), null, 'still held by the other reason');
  c.t += 1000;
  dog.release('wait:1');
  assert.equal(dog.held, false);
  c.t += 400;
  assert.equal(dog.check(), null, '1.9 s of the test and 0.4 s of silence counted');
  c.t += 200;
  assert.deepEqual(dog.check(), { reason: 'silence', limitMs: 2000 });
});
