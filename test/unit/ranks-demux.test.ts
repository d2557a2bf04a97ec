import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RankStreams, type RankLine, type RankStreamsOptions, type StreamName } from '../../src/core/ranks/demux';
import { encodeRecord } from '../../src/core/ranks/frames';
import type { AgentRecord, RankRecord } from '../../src/core/types';
import { RECORDED, RECORDED_TOKEN as TOKEN } from './recorded';

// The OpenMPI recordings were made with real `mpirun --tag-output` 4.1.4 and the real agent by
// test/fixtures/recorded/record-openmpi.sh, with this fixed token.

interface Collected { lines: RankLine[]; records: AgentRecord[] }

/** Feeds (stream, bytes) pieces, each cut into chunks by `chunking`, and collects what comes out. */
function demux(pieces: [StreamName, Buffer][], opts: Partial<RankStreamsOptions> = {}, chunking: (n: number) => number[] = n => [n]): Collected {
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi', ...opts });
  const out: Collected = { lines: [], records: [] };
  streams.onLine(l => out.lines.push(l));
  streams.onRecord(r => out.records.push(r));
  for (const [stream, bytes] of pieces) {
    let at = 0;
    for (const size of chunking(bytes.length)) {
      streams.write(stream, bytes.subarray(at, at + size));
      at += size;
    }
  }
  streams.end();
  return out;
}

/** Deterministic chunk sizes in [1, max]. */
function randomChunks(seed: number, max: number): (n: number) => number[] {
  return n => {
    let state = seed;
    const sizes: number[] = [];
    for (let left = n; left > 0;) {
      state = (state * 1103515245 + 12345) % 2147483648;
      const size = Math.min(left, 1 + (state % max));
      sizes.push(size);
      left -= size;
    }
    return sizes;
  };
}

const CHUNKINGS: [string, (n: number) => number[]][] = [
  ['whole', n => [n]], ['1 byte', n => Array(n).fill(1)], ['random ≤7', randomChunks(1, 7)], ['random ≤5000', randomChunks(2, 5000)],
];

function recorded(name: string): [StreamName, Buffer][] {
  return [['stdout', fs.readFileSync(path.join(RECORDED, `${name}.stdout.txt`))], ['stderr', fs.readFileSync(path.join(RECORDED, `${name}.stderr.txt`))]];
}

const textOf = (lines: RankLine[], rank: number | null, stream: StreamName = 'stdout') =>
  lines.filter(l => l.rank === rank && l.stream === stream).map(l => l.text);

test('recorded openmpi pytest run: records per rank, frames cut out of progress lines, any chunking', () => {
  const reference = demux(recorded('openmpi-pytest'));
  for (const [name, chunking] of CHUNKINGS) {
    assert.deepEqual(demux(recorded('openmpi-pytest'), {}, chunking), reference, name);
  }
  const { lines, records } = reference;
  assert.equal(records.filter(r => r.kind === 'hello').length, 3);
  assert.equal(records.filter(r => r.kind === 'bye').length, 3);
  const failed = records.filter((r): r is RankRecord => r.kind === 'result' && r.outcome === 'failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].rank, 1);
  assert.equal(failed[0].test, 'tests/test_parallel.py::test_fails_on_rank_1[3]');
  assert.deepEqual(failed[0].location, { file: 'tests/test_parallel.py', line: 19 });
  assert.equal(failed[0].message, 'AssertionError: rank 1 disagrees\nassert 1 != 1');
  assert.ok(lines.every(l => !l.text.includes('@@distest')), 'no frame leaks into output');
  // pytest's progress line, written around the frames, comes out whole.
  assert.match(textOf(lines, 1)[0], /^F\. +\[100%\]$/);
  assert.match(textOf(lines, 0)[0], /^\.\. +\[100%\]$/);
  // "=== FAILURES ===" arrived as two tagged pieces (the text, then its newline).
  assert.ok(textOf(lines, 1).some(t => /^=+ FAILURES =+$/.test(t)));
  assert.ok(textOf(lines, 1).includes('E       AssertionError: rank 1 disagrees'));
  assert.ok(textOf(lines, null, 'stderr').some(t => /^ {2}Process name: \[\[\d+,1\],1\]$/.test(t)), 'mpirun\'s own lines are untagged');
  assert.ok(lines.every(l => l.rank === null || !l.text.includes('\r')));
});

test('recorded openmpi crash: rank 1 output attributed to its running test, mid-line re-tags joined', () => {
  const { lines } = demux(recorded('openmpi-crash'));
  const rank1 = lines.filter(l => l.rank === 1 && l.stream === 'stderr');
  assert.equal(rank1[0].text, 'Fatal Python error: Segmentation fault');
  assert.ok(rank1.every(l => l.test === 'tests/test_crash.py::test_rank_1_segfaults'));
  assert.ok(rank1.some(l => /test_crash\.py", line 12 in test_rank_1_segfaults/.test(l.text)));
  assert.ok(textOf(lines, null, 'stderr').some(t => t.startsWith('mpirun noticed that process rank 1 with PID')));
});

test('recorded openmpi long lines: 4 KiB pieces of 3 ranks interleaved mid-line are rejoined per rank', () => {
  const reference = demux(recorded('openmpi-long-lines'));
  for (const [name, chunking] of CHUNKINGS) {
    assert.deepEqual(demux(recorded('openmpi-long-lines'), {}, chunking), reference, name);
  }
  for (const rank of [0, 1, 2]) {
    const expected = `${rank}:` + ('x'.repeat(3000) + 'é€').repeat(3) + ':end';
    assert.deepEqual(textOf(reference.lines, rank), [expected, expected, expected, expected, 'progress 50%\r progress 100%']);
    assert.deepEqual(textOf(reference.lines, rank, 'stderr'), [`warning from rank ${rank}`]);
  }
  assert.equal(reference.lines.filter(l => l.rank === null).length, 0);
});

test('a 1 MB line is delivered in pieces of at most maxLineBytes, never splitting a character', () => {
  const line = 'é'.repeat(512 * 1024) + 'x';
  const { lines } = demux([['stdout', Buffer.from(line + '\nafter\n')]], { tagStyle: 'none' }, randomChunks(3, 100000));
  assert.ok(lines.length > 16);
  assert.ok(lines.slice(0, -1).every(l => Buffer.byteLength(l.text) <= 64 * 1024 && !l.text.includes('\ufffd')));
  assert.equal(lines.slice(0, -1).map(l => l.text).join(''), line);
  assert.equal(lines[lines.length - 1].text, 'after');
});

test('binary bytes and invalid UTF-8 become U+FFFD; UTF-8 split across writes stays whole', () => {
  const bytes = Buffer.from([...Array(256).keys()].filter(b => b !== 0x0a));
  const { lines } = demux([['stdout', Buffer.concat([bytes, Buffer.from('\n')])]], { tagStyle: 'none', rank: 5 });
  assert.equal(lines.length, 1);
  assert.equal(lines[0].rank, 5);
  assert.ok(lines[0].text.includes('\ufffd') && lines[0].text.includes('\u0000') && lines[0].text.startsWith('\u0000\u0001'));
  const euro = Buffer.from('[1,2]<stdout>:price 5€\n');
  assert.deepEqual(demux([['stdout', euro]], {}, () => [20, 1, 1, euro.length - 22]).lines, [{ rank: 2, stream: 'stdout', text: 'price 5€' }]);
});

test('a frame with another token, or a malformed one with ours, stays ordinary output', () => {
  const foreign = encodeRecord('ffffffffffffffffffffffffffffffff', 0, { kind: 'bye', rank: 0 })[0];
  const broken = `@@distest:${TOKEN}:0:0:0:1:%%%\n`;
  const { lines, records } = demux([['stdout', Buffer.from(`[1,0]<stdout>:${foreign}[1,0]<stdout>:${broken}`)]]);
  assert.deepEqual(records, []);
  assert.deepEqual(textOf(lines, 0), [foreign.trimEnd(), broken.trimEnd()]);
});

test('output is attributed to the test a rank runs, from its start record until bye', () => {
  const start = encodeRecord(TOKEN, 0, { kind: 'start', rank: 1, test: "t.py::test_a[;$(x)']" })[0];
  const bye = encodeRecord(TOKEN, 1, { kind: 'bye', rank: 1 })[0];
  const stream = `[1,1]<stdout>:${start}[1,0]<stdout>:rank 0 line\n[1,1]<stderr>:inside\n[1,1]<stdout>:${bye}[1,1]<stdout>:after\n`;
  const { lines } = demux([['stdout', Buffer.from(stream)]]);
  assert.deepEqual(lines, [
    { rank: 0, stream: 'stdout', text: 'rank 0 line' },
    { rank: 1, stream: 'stderr', text: 'inside', test: "t.py::test_a[;$(x)']" },
    { rank: 1, stream: 'stdout', text: 'after' },
  ]);
});

// MPICH and Slurm are not installed here: these streams are written from their documented formats.
// Hydra's `mpiexec -prepend-rank` sets the prefix pattern "[%r] "; `srun --label` prefixes "<task>: ",
// right-aligned to the widest task id. Their own messages carry no prefix.
test('mpich -prepend-rank and srun --label streams', () => {
  const frame = encodeRecord(TOKEN, 0, { kind: 'start', rank: 3, test: 't.py::test_b' })[0];
  const mpich = `[0] hello from 0\n[3] ${frame}[3] boom\r\n[12] twelve\n[proxy:0:0@host] launcher says hi\n[3]no space\n`;
  const fromMpich = demux([['stdout', Buffer.from(mpich)]], { tagStyle: 'mpich' }, randomChunks(4, 3));
  assert.deepEqual(fromMpich.lines, [
    { rank: 0, stream: 'stdout', text: 'hello from 0' },
    { rank: 3, stream: 'stdout', text: 'boom', test: 't.py::test_b' },
    { rank: 12, stream: 'stdout', text: 'twelve' },
    { rank: null, stream: 'stdout', text: '[proxy:0:0@host] launcher says hi' },
    { rank: null, stream: 'stdout', text: '[3]no space' },
  ]);
  assert.equal(fromMpich.records.length, 1);

  const srun = ` 3: ${frame} 3: three\n12: twelve\nsrun: error: node01: task 3: Segmentation fault (core dumped)\n`;
  const fromSrun = demux([['stderr', Buffer.from(srun)]], { tagStyle: 'srun' }, randomChunks(5, 4));
  assert.deepEqual(fromSrun.lines, [
    { rank: 3, stream: 'stderr', text: 'three', test: 't.py::test_b' },
    { rank: 12, stream: 'stderr', text: 'twelve' },
    { rank: null, stream: 'stderr', text: 'srun: error: node01: task 3: Segmentation fault (core dumped)' },
  ]);
});

test('unterminated output and a frame missing its final newline are flushed by end()', () => {
  const frame = encodeRecord(TOKEN, 0, { kind: 'bye', rank: 1 })[0].trimEnd();
  // The trailing `[1,` could start a tag until end() decides it is rank 0's text.
  const { lines, records } = demux([['stdout', Buffer.from('[1,0]<stdout>:partial')], ['stderr', Buffer.from(`[1,1]<stderr>:${frame}`)], ['stdout', Buffer.from('[1,')]]);
  assert.deepEqual(records, [{ kind: 'bye', rank: 1 }]);
  assert.deepEqual(lines, [{ rank: 0, stream: 'stdout', text: 'partial[1,' }]);
  assert.deepEqual(demux([['stderr', Buffer.from('[1')]]).lines, [{ rank: null, stream: 'stderr', text: '[1' }]);
});

test('demux throughput on a 50 MB tagged stream', () => {
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const rank = i % 4;
    lines.push(i % 50 === 0 ? `[1,${rank}]<stdout>:${encodeRecord(TOKEN, i, { kind: 'start', rank, test: `tests/test_x.py::test_${i}` })[0]}`
      : `[1,${rank}]<stdout>:${'output of a test line with some text '.repeat(1 + (i % 5))}${i}\n`);
  }
  const block = Buffer.from(lines.join(''));
  const copies = Math.ceil(50e6 / block.length);
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
  let count = 0;
  let records = 0;
  streams.onLine(() => count++);
  streams.onRecord(() => records++);
  const chunk = 64 * 1024;
  const started = process.hrtime.bigint();
  for (let c = 0; c < copies; c++) for (let at = 0; at < block.length; at += chunk) streams.write('stdout', block.subarray(at, at + chunk));
  streams.end();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const megabytes = (block.length * copies) / 1e6;
  console.log(`demux: ${megabytes.toFixed(0)} MB, ${count} lines, ${records} records in ${seconds.toFixed(2)} s = ${(megabytes / seconds).toFixed(0)} MB/s`);
  assert.equal(records, 40 * copies);
  assert.equal(count, 1960 * copies);
  assert.ok(megabytes / seconds > 20, 'demux slower than 20 MB/s');
});

// What the per-rank log view relies on: order per rank under random interleaving and chunking, CRLF,
// ANSI pass-through, a reused write buffer, a 10 MB line.


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

test('recorded openmpi: a rank\'s last words without a newline, then mpirun\'s banner on the same line: the words are the rank\'s, the banner mpirun\'s, any chunking', () => {
  const reference = demux(recorded('openmpi-unterminated-then-banner'));
  for (const [name, chunking] of CHUNKINGS) {
    assert.deepEqual(demux(recorded('openmpi-unterminated-then-banner'), {}, chunking), reference, name);
  }
  const { lines } = reference;
  assert.deepEqual(textOf(lines, 0, 'stderr'), ['rank says boom']);
  assert.deepEqual(textOf(lines, 1, 'stderr'), ['rank says boom']);
  const banner = textOf(lines, null, 'stderr');
  assert.equal(banner[0], '-'.repeat(74));
  assert.match(banner[1], /^Primary job {2}terminated normally/);
  // A rank's own line of dashes stays the rank's, tagged or after its own text.
  const dashes = Buffer.from(`[1,0]<stderr>:${'-'.repeat(74)}\n[1,1]<stderr>:x${'-'.repeat(80)}\n[1,1]<stderr>:y-[1,1]<stderr>:${'-'.repeat(74)}\n`);
  for (const [name, chunking] of CHUNKINGS) {
    const own = demux([['stderr', dashes]], {}, chunking).lines;
    assert.deepEqual(textOf(own, 0, 'stderr'), ['-'.repeat(74)], name);
    assert.deepEqual(textOf(own, 1, 'stderr'), [`x${'-'.repeat(80)}`, `y-${'-'.repeat(74)}`], name);
    assert.deepEqual(textOf(own, null, 'stderr'), [], name);
  }
});
