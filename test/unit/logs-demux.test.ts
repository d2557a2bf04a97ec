// Demux guarantees the per-rank log view relies on, beyond ranks-demux.test.ts: order per rank under
// random interleaving and chunking, CRLF, ANSI pass-through, a reused write buffer, a 10 MB line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRecord, RankStreams, type RankLine } from '../../src/core/ranks';

const TOKEN = 'fedcba9876543210fedcba9876543210';

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

function collect(streams: RankStreams): RankLine[] {
  const lines: RankLine[] = [];
  streams.onLine(l => lines.push(l));
  return lines;
}

/** Writes `bytes` in random chunk sizes up to `max`, through one reused buffer when `reuse`. */
function feed(streams: RankStreams, bytes: Buffer, rnd: () => number, max: number, reuse = false): void {
  const scratch = Buffer.alloc(max);
  for (let at = 0; at < bytes.length;) {
    const size = Math.min(bytes.length - at, 1 + Math.floor(rnd() * max));
    if (reuse) {
      bytes.copy(scratch, 0, at, at + size);
      streams.write('stdout', scratch.subarray(0, size));
    } else {
      streams.write('stdout', bytes.subarray(at, at + size));
    }
    at += size;
  }
  streams.end();
}

test('16 ranks interleaved line by line, CRLF, ANSI and frames: each rank gets its lines once, in order, any chunking', () => {
  const rnd = random(7);
  const expected = new Map<number, string[]>();
  const parts: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const rank = Math.floor(rnd() * 16);
    const kind = i % 7;
    if (kind === 3) {
      parts.push(`[1,${rank}]<stdout>:${encodeRecord(TOKEN, i, { kind: 'start', rank, test: `t.py::test_${i}` })[0]}`);
      continue;
    }
    const text = kind === 1 ? `\x1b[31mred ${i}\x1b[0m on rank ${rank}` : kind === 2 ? `ümlaut ✓ ${i}` : `line ${i} of rank ${rank}`;
    (expected.get(rank) ?? expected.set(rank, []).get(rank) as string[]).push(text);
    parts.push(`[1,${rank}]<stdout>:${text}${kind === 4 ? '\r\n' : '\n'}`);
  }
  const bytes = Buffer.from(parts.join(''));
  for (const [max, reuse] of [[1, false], [7, false], [4096, true], [65536, true], [1 << 20, false]] as const) {
    const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
    const lines = collect(streams);
    let records = 0;
    streams.onRecord(() => records++);
    feed(streams, bytes, random(max), max, reuse);
    for (const [rank, texts] of expected) {
      assert.deepEqual(lines.filter(l => l.rank === rank).map(l => l.text), texts, `rank ${rank}, chunks ≤ ${max}, reuse ${reuse}`);
    }
    assert.equal(lines.filter(l => l.rank === null).length, 0);
    assert.ok(records > 500, `records: ${records}`);
  }
});

test('a 10 MB line without a newline arrives whole, in order, in pieces of at most maxLineBytes', () => {
  const body = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = 0x61 + (i % 26);
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi', maxLineBytes: 64 * 1024 });
  const lines = collect(streams);
  const tagged = Buffer.concat([Buffer.from('[1,5]<stderr>:'), body]);
  feed(streams, tagged, random(3), 64 * 1024);
  assert.ok(lines.every(l => l.rank === 5 && l.stream === 'stderr' && Buffer.byteLength(l.text) <= 64 * 1024));
  assert.equal(lines.map(l => l.text).join(''), body.toString('latin1'));
});

test('tags OpenMPI put inside a line, `]<` and `<` in text, and UTF-8 are found at every byte alignment', () => {
  const texts = ['a]<b is text, not a tag', '<<<>>> x < y', 'ünïcödé ✓ at the start', 'ascii then é', '', 'x'];
  for (let shift = 0; shift < 8; shift++) {
    const pad = 'p'.repeat(shift);
    const expected = texts.map(t => `${pad}${t}`);
    // Rank 1's line is cut by rank 2's whole line, at a different offset per shift.
    const parts = expected.map(t => `[1,3]<stdout>:${t}\n`);
    parts.push(`[1,1]<stdout>:${pad}head [1,2]<stderr>:${pad}other\n[1,1]<stdout>:tail\n`);
    const bytes = Buffer.from(parts.join(''));
    for (let offset = 0; offset < 4; offset++) {
      // The same bytes at each offset from an aligned start, through one write and through small ones.
      const backing = Buffer.alloc(bytes.length + offset);
      bytes.copy(backing, offset);
      for (const max of [bytes.length, 5]) {
        const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
        const lines = collect(streams);
        feed(streams, backing.subarray(offset), random(shift * 4 + offset), max);
        assert.deepEqual(lines.filter(l => l.rank === 3).map(l => l.text), expected, `shift ${shift}, offset ${offset}, chunks ≤ ${max}`);
        assert.deepEqual(lines.filter(l => l.rank !== 3).map(l => [l.rank, l.stream, l.text]),
          [[2, 'stderr', `${pad}other`], [1, 'stdout', `${pad}head tail`]], `shift ${shift}, offset ${offset}, chunks ≤ ${max}`);
      }
    }
  }
});
