import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogFeed, type LinesMessage } from '../../src/core/logs/logFeed';

function feedWith(opts: Partial<ConstructorParameters<typeof LogFeed>[0]> = {}): { feed: LogFeed; sent: LinesMessage[] } {
  const sent: LinesMessage[] = [];
  const feed = new LogFeed({ post: m => sent.push(m), intervalMs: 5, ...opts });
  return { feed, sent };
}

const texts = (sent: LinesMessage[]) => sent.flatMap(m => m.lines.map(l => l[2]));

test('lines go out in size-bounded batches, at most maxUnacked unacknowledged; acks release the rest in order', () => {
  const { feed, sent } = feedWith({ maxBatchChars: 1000, maxUnacked: 2, maxQueuedChars: 1e9 });
  const all = Array.from({ length: 500 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'.'.repeat(40)}`);
  for (const t of all) feed.push(3, 'stdout', t);
  assert.equal(sent.length, 2, 'a view that does not ack gets two batches');
  while (feed.pendingChars > 0 || feed.inFlight > 0) {
    const before: number = sent.length;
    for (const m of sent.slice(-feed.inFlight)) feed.ack(m.batch);
    if (sent.length === before && feed.pendingChars === 0) break;
  }
  assert.deepEqual(texts(sent), all);
  assert.ok(sent.every(m => m.lines.reduce((n, l) => n + l[2].length, 0) <= 1000 && m.skipped === 0));
  assert.deepEqual(sent[0].lines[0], [3, 0, all[0]]);
  feed.dispose();
});

test('a view that falls behind gets the tail: the queue stays bounded and the skipped count is reported', () => {
  const { feed, sent } = feedWith({ maxBatchChars: 1000, maxUnacked: 1, maxQueuedChars: 10_000 });
  const pushed = 20_000;
  for (let i = 0; i < pushed; i++) {
    feed.push(i % 4, i % 9 === 0 ? 'stderr' : 'stdout', `line ${i}`);
    assert.ok(feed.pendingChars <= 10_000);
  }
  for (let guard = 0; feed.inFlight > 0 && guard < 1000; guard++) feed.ack(sent[sent.length - 1].batch);
  const delivered = texts(sent);
  const skipped = sent.reduce((n, m) => n + m.skipped, 0);
  assert.equal(delivered.length + skipped, pushed, 'every line is delivered or counted as skipped');
  assert.equal(skipped, feed.droppedTotal);
  assert.ok(skipped > 0);
  assert.equal(delivered[delivered.length - 1], `line ${pushed - 1}`, 'the newest line arrives');
  const numbers = delivered.map(t => Number(t.slice(5)));
  assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]), 'order kept');
  assert.equal(sent.find(m => m.lines.some(l => l[2] === 'line 0'))?.lines[0][1], 1, 'stderr flag');
  feed.dispose();
});

test('a lone line is sent after the interval; reset forgets queued and in-flight lines', async () => {
  const { feed, sent } = feedWith({ intervalMs: 5 });
  feed.push(null, 'stderr', 'mpirun: hello');
  assert.equal(sent.length, 0);
  await new Promise(resolve => setTimeout(resolve, 50));
  assert.deepEqual(sent.map(m => m.lines), [[[-1, 1, 'mpirun: hello']]]);
  feed.reset();
  assert.equal(feed.inFlight, 0);
  feed.push(0, 'stdout', 'after reset');
  feed.flush();
  assert.equal(sent.length, 2);
  feed.dispose();
});
