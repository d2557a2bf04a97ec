import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRecord, FrameDecoder, newFrameToken, parseRecord } from '../../src/core/ranks/frames';
import type { AgentRecord, RankRecord } from '../../src/core/types';

const TOKEN = '0123456789abcdef0123456789abcdef';
const strip = (line: string) => line.replace(/\n$/, '');

function result(rank: number, text = 'short'): RankRecord {
  return { kind: 'result', rank, size: 4, host: 'node1', test: 'tests/test_x.py::test_y[2]', phase: 'call', outcome: 'failed',
    durationMs: 12.5, location: { file: 'tests/test_x.py', line: 42 }, message: 'AssertionError: boom', text };
}

test('a single-chunk frame decodes to its record', () => {
  const decoder = new FrameDecoder(TOKEN);
  const record: AgentRecord = { kind: 'start', rank: 3, test: "tests/t.py::test_q[;$(x)']" };
  const [line] = encodeRecord(TOKEN, 0, record);
  assert.deepEqual(decoder.accept(strip(line)), record);
  assert.equal(decoder.incompleteMessages(), 0);
});

test('chunked frames reassemble, also with a trailing \\r and interleaved with other ranks', () => {
  const decoder = new FrameDecoder(TOKEN);
  const big0 = result(0, 'x'.repeat(10000));
  const big1 = result(1, 'é€'.repeat(4000));
  const lines0 = encodeRecord(TOKEN, 7, big0).map(strip);
  const lines1 = encodeRecord(TOKEN, 2, big1).map(l => strip(l) + '\r');
  assert.ok(lines0.length > 3 && lines1.length > 3);
  const got: (AgentRecord | string | null)[] = [];
  for (let i = 0; i < Math.max(lines0.length, lines1.length); i++) {
    if (i < lines0.length) got.push(decoder.accept(lines0[i]));
    if (i < lines1.length) got.push(decoder.accept(lines1[i]));
  }
  const records = got.filter(g => typeof g === 'object' && g !== null);
  assert.deepEqual(records, [big0, big1]);
  assert.equal(got.filter(g => g === 'partial').length, lines0.length + lines1.length - 2);
});

test('ordinary output and frames with another token are plain output', () => {
  const decoder = new FrameDecoder(TOKEN);
  assert.equal(decoder.accept('hello'), null);
  assert.equal(decoder.accept(''), null);
  const [other] = encodeRecord('ffffffffffffffffffffffffffffffff', 0, { kind: 'bye', rank: 0 });
  assert.equal(decoder.accept(strip(other)), null);
  assert.equal(decoder.accept(`@@distest:${TOKEN}`), null, 'no separator after the token: not ours');
});

test('garbage with our token is invalid, and decoding carries on', () => {
  const decoder = new FrameDecoder(TOKEN);
  const garbage = [
    `@@distest:${TOKEN}:`, `@@distest:${TOKEN}:0:0:0:1`, `@@distest:${TOKEN}:x:0:0:1:AAAA`, `@@distest:${TOKEN}:0:0:1:1:AAAA`,
    `@@distest:${TOKEN}:0:0:0:0:AAAA`, `@@distest:${TOKEN}:0:0:0:1:not base64!`, `@@distest:${TOKEN}:0:0:0:1:${Buffer.from('{"kind":"nope","rank":0}').toString('base64')}`,
    `@@distest:${TOKEN}:0:0:0:1:${Buffer.from('not json').toString('base64')}`,
    // The record claims another rank than the frame.
    strip(encodeRecord(TOKEN, 0, { kind: 'bye', rank: 1 })[0]).replace(`${TOKEN}:1:`, `${TOKEN}:2:`),
  ];
  for (const line of garbage) assert.equal(decoder.accept(line), 'invalid', line);
  assert.deepEqual(decoder.accept(strip(encodeRecord(TOKEN, 5, { kind: 'bye', rank: 0 })[0])), { kind: 'bye', rank: 0 });
});

test('a truncated message is abandoned when the rank starts the next one; a stray later chunk is invalid', () => {
  const decoder = new FrameDecoder(TOKEN);
  const lines = encodeRecord(TOKEN, 1, result(2, 'y'.repeat(9000))).map(strip);
  assert.equal(decoder.accept(lines[0]), 'partial');
  assert.equal(decoder.accept(lines[1]), 'partial');
  const next: AgentRecord = { kind: 'bye', rank: 2 };
  assert.deepEqual(decoder.accept(strip(encodeRecord(TOKEN, 2, next)[0])), next);
  assert.equal(decoder.accept(lines[2]), 'invalid');
  assert.equal(decoder.incompleteMessages(), 1);
});

test('parseRecord checks the shapes of every kind', () => {
  assert.ok(parseRecord(JSON.stringify({ kind: 'hello', rank: 0, size: 2, host: 'h', pid: 9, tests: ['a'] })));
  assert.equal(parseRecord(JSON.stringify({ kind: 'hello', rank: 0, size: 2, host: 'h', pid: 9, tests: [1] })), null);
  assert.equal(parseRecord(JSON.stringify({ ...result(0), outcome: 'exploded' })), null);
  assert.equal(parseRecord(JSON.stringify({ ...result(0), location: { file: 'a.py' } })), null);
  assert.equal(parseRecord(JSON.stringify({ kind: 'start', rank: -1, test: 'a' })), null);
  assert.equal(parseRecord('[]'), null);
});

test('tokens are 32 hex characters and a bad token is refused', () => {
  assert.match(newFrameToken(), /^[0-9a-f]{32}$/);
  assert.notEqual(newFrameToken(), newFrameToken());
  assert.throws(() => new FrameDecoder('a:b'), /alphanumeric/);
  assert.throws(() => new FrameDecoder(''), /alphanumeric/);
});
