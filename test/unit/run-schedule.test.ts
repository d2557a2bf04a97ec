import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balance, order, partCount, simulate, startable, type Job, type Running, type ScheduleLimits } from '../../src/core/run/schedule';

const local = (slots: number, maxLaunches = slots): ScheduleLimits => ({ pools: [{ name: 'here', slots }], maxLaunches });
const job = (key: number, ranks: number, estimateMs: number): Job => ({ key, ranks, estimateMs });

test('longest first, then first fit: smaller launches fill the slots a larger one leaves', () => {
  const limits = local(4);
  const queue = order([job(1, 2, 3000), job(2, 3, 6000), job(3, 1, 500), job(4, 4, 5000)], limits);
  assert.deepEqual(queue.map(j => j.key), [2, 4, 1, 3]);
  const started = startable(queue, [], limits);
  // 3 ranks take 3 of 4 slots: the 4-rank and 2-rank launches do not fit beside it, the 1-rank one does.
  assert.deepEqual(started.map(p => [p.job.key, p.slots]), [[2, [{ name: 'here', slots: 3 }]], [3, [{ name: 'here', slots: 1 }]]]);
  const running: Running[] = started.map(p => ({ slots: p.slots, alone: p.alone }));
  assert.deepEqual(startable(queue.filter(j => j.key === 1 || j.key === 4), running, limits), []);
});

test('one launch at a time keeps the given order (today\'s sequential behaviour)', () => {
  const limits = local(4, 1);
  const queue = order([job(1, 2, 100), job(2, 3, 9000)], limits);
  assert.deepEqual(queue.map(j => j.key), [1, 2]);
  assert.deepEqual(startable(queue, [], limits).map(p => p.job.key), [1]);
  assert.deepEqual(startable(queue.slice(1), [{ slots: [{ name: 'here', slots: 2 }], alone: false }], limits), []);
  assert.equal(simulate(queue, limits).makespanMs, 9100);
});

test('a launch larger than the allocation, or of unknown size, runs alone', () => {
  const limits = local(2);
  const queue = [job(1, 4, 5000), job(2, 1, 100), job(3, 0, 50)];
  // Nothing runs: the oversubscribed launch starts, alone.
  assert.deepEqual(startable(queue, [], limits).map(p => [p.job.key, p.alone]), [[1, true]]);
  assert.deepEqual(startable(queue.slice(1), [{ slots: [], alone: true }], limits), []);
  // While something runs it waits; the others go first.
  assert.deepEqual(startable(queue, [{ slots: [{ name: 'here', slots: 1 }], alone: false }], limits).map(p => p.job.key), [2]);
  const { starts } = simulate(queue, limits);
  assert.equal(starts.get(1), 0);
  assert.equal(starts.get(3), 5100);
});

test('never more ranks on a pool than its slots, never more launches than allowed (random workloads)', () => {
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let round = 0; round < 200; round++) {
    const limits: ScheduleLimits = { pools: [{ name: 'a', slots: 1 + rand(4) }, { name: 'b', slots: 1 + rand(4) }], maxLaunches: 1 + rand(4) };
    const total = limits.pools[0].slots + limits.pools[1].slots;
    let queue = order(Array.from({ length: 1 + rand(8) }, (_, i) => job(i, 1 + rand(total), 100 + rand(5000))), limits);
    const running: Running[] = [];
    while (queue.length) {
      const started = startable(queue, running, limits);
      assert.ok(started.length > 0 || running.length > 0, 'the queue always drains');
      for (const p of started) {
        running.push(p);
        queue = queue.filter(j => j !== p.job);
        assert.equal(p.slots.reduce((n, s) => n + s.slots, 0), p.alone ? 0 : p.job.ranks);
      }
      assert.ok(running.length <= limits.maxLaunches);
      for (const pool of limits.pools) {
        const used = running.reduce((n, r) => n + r.slots.filter(s => s.name === pool.name).reduce((m, s) => m + s.slots, 0), 0);
        assert.ok(used <= pool.slots, `${pool.name}: ${used} ranks on ${pool.slots} slots`);
      }
      running.splice(rand(Math.max(1, running.length)), 1);
    }
  }
});

test('host lists: one host that holds the launch before spreading over several', () => {
  const limits: ScheduleLimits = { pools: [{ name: 'n1', slots: 4 }, { name: 'n2', slots: 4 }], maxLaunches: 8 };
  const started = startable([job(1, 3, 9), job(2, 3, 8), job(3, 2, 7)], [], limits);
  assert.deepEqual(started.map(p => p.slots), [
    [{ name: 'n1', slots: 3 }],
    [{ name: 'n2', slots: 3 }],
    [{ name: 'n1', slots: 1 }, { name: 'n2', slots: 1 }],
  ]);
});

test('the mixed case: 10 tests each at 2, 3 and 4 ranks of 0.5 s on 4 slots', () => {
  const limits = local(4);
  // One launch per count takes 3 × 5 s; splitting the 2-rank batch in two lets its halves run side by side.
  assert.equal(partCount(2, 5000, 10, limits), 2);
  assert.equal(partCount(3, 5000, 10, limits), 1);
  assert.equal(partCount(4, 5000, 10, limits), 1);
  assert.equal(partCount(2, 300, 10, limits), 1, 'short batches stay whole: a launch costs about a second');
  assert.equal(partCount(1, 60_000, 10, local(4, 2)), 2, 'never more parts than launches allowed');
  const jobs = [job(1, 2, 3500), job(2, 2, 3500), job(3, 3, 6000), job(4, 4, 6000)];
  const sequential = simulate(jobs, local(4, 1)).makespanMs;
  const packed = simulate(jobs, limits).makespanMs;
  assert.equal(sequential, 19_000);
  assert.equal(packed, 15_500);
});

test('balance: parts of about equal weight, each in the original order', () => {
  const weights: Record<string, number> = { a: 5, b: 1, c: 4, d: 2, e: 3 };
  assert.deepEqual(balance(['a', 'b', 'c', 'd', 'e'], x => weights[x], 2), [['a', 'b', 'd'], ['c', 'e']]);
  assert.deepEqual(balance(['a'], () => 1, 3), [['a']]);
});
