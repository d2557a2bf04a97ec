import type { AgentRecord } from '../types';
import { FrameDecoder } from './frames';

/**
 * How the launcher marks which rank wrote a line:
 * - openmpi: `mpirun --tag-output` → `[1,3]<stdout>:text`. OpenMPI 4.1 tags every 4 KiB read it
 *   forwards, not every line, so a long line arrives as several tagged pieces, and other ranks' pieces
 *   may land between them; the pieces are joined per rank.
 * - mpich: `mpiexec -prepend-rank` → `[3] text`; srun: `srun --label` → `3: text` (right-aligned).
 * - none: one process whose rank is the constructor's `rank`.
 * Lines without a tag are the launcher's own (rank null).
 */
export type TagStyle = 'openmpi' | 'mpich' | 'srun' | 'none';
export type StreamName = 'stdout' | 'stderr';

export interface RankLine { rank: number | null; stream: StreamName; text: string; test?: string }

export interface RankStreamsOptions {
  token: string;
  tagStyle: TagStyle;
  /** The rank of the single process for tagStyle 'none' (default 0). */
  rank?: number;
  /** Longer lines are delivered in pieces of at most this many bytes (default 64 KiB, at least 8 KiB). */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const OPEN_BRACKET = 0x5b;
const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
/** Frame lines are under 4 KiB; a limit above this never cuts one. */
const MIN_MAX_LINE_BYTES = 8 * 1024;
/** Longest possible tag, so an undecided tail is bounded. */
const MAX_TAG_BYTES = 48;

/** Where bytes go; one object per rank and stream, holding that line's pending bytes. */
interface Target { rank: number | null; stream: StreamName; pending: PendingLine | null }
interface TagMatch { length: number; rank: number; stream?: StreamName }
/** A tag at the position, 'more' when the bytes end before it can be decided, else null. */
type TagResult = TagMatch | 'more' | null;

/** Position after `literal` at `pos`, 'more' if the buffer ends inside it, null on a mismatch. */
function expect(buf: Buffer, pos: number, literal: string): number | 'more' | null {
  for (let i = 0; i < literal.length; i++) {
    if (pos + i >= buf.length) return 'more';
    if (buf[pos + i] !== literal.charCodeAt(i)) return null;
  }
  return pos + literal.length;
}

/** [value, end] of 1..9 decimal digits at `pos`. */
function digits(buf: Buffer, pos: number): [number, number] | 'more' | null {
  let end = pos;
  let value = 0;
  for (; end < buf.length && buf[end] >= 0x30 && buf[end] <= 0x39; end++) value = value * 10 + buf[end] - 0x30;
  if (end === buf.length) return end - pos > 9 ? null : 'more';
  if (end === pos || end - pos > 9) return null;
  return [value, end];
}

const OPENMPI_STREAMS: [string, StreamName][] = [['stdout>:', 'stdout'], ['stderr>:', 'stderr'], ['stddiag>:', 'stderr']];

/** Bytes of `stdout>:` etc. after `]<`, checked directly on the common complete tag. */
const OPENMPI_STREAM_BYTES: [Buffer, StreamName][] = OPENMPI_STREAMS.map(([literal, stream]) => [Buffer.from(literal, 'latin1'), stream]);

/** The common case of openMpiTag without intermediate allocations: a complete tag, else undefined. */
function completeOpenMpiTag(buf: Buffer, start: number): TagMatch | undefined {
  if (buf[start] !== OPEN_BRACKET) return undefined;
  let pos = start + 1;
  const jobStart = pos;
  while (pos < buf.length && buf[pos] >= 0x30 && buf[pos] <= 0x39) pos++;
  if (pos === jobStart || pos - jobStart > 9 || buf[pos] !== 0x2c) return undefined;
  const rankStart = ++pos;
  let rank = 0;
  for (; pos < buf.length && buf[pos] >= 0x30 && buf[pos] <= 0x39; pos++) rank = rank * 10 + buf[pos] - 0x30;
  if (pos === rankStart || pos - rankStart > 9 || buf[pos] !== 0x5d || buf[pos + 1] !== 0x3c) return undefined;
  pos += 2;
  for (const [literal, stream] of OPENMPI_STREAM_BYTES) {
    if (pos + literal.length > buf.length) return undefined;
    let i = 0;
    while (i < literal.length && buf[pos + i] === literal[i]) i++;
    if (i === literal.length) return { length: pos + i - start, rank, stream };
  }
  return undefined;
}

/** `[<job>,<rank>]<stdout|stderr|stddiag>:` */
function openMpiTag(buf: Buffer, start: number): TagResult {
  const complete = completeOpenMpiTag(buf, start);
  if (complete) return complete;
  let pos = expect(buf, start, '[');
  if (typeof pos !== 'number') return pos;
  const job = digits(buf, pos);
  if (!Array.isArray(job)) return job;
  pos = expect(buf, job[1], ',');
  if (typeof pos !== 'number') return pos;
  const rank = digits(buf, pos);
  if (!Array.isArray(rank)) return rank;
  pos = expect(buf, rank[1], ']<');
  if (typeof pos !== 'number') return pos;
  let undecided = false;
  for (const [literal, stream] of OPENMPI_STREAMS) {
    const end = expect(buf, pos, literal);
    if (typeof end === 'number') return { length: end - start, rank: rank[0], stream };
    undecided ||= end === 'more';
  }
  return undecided ? 'more' : null;
}

/** `[<rank>] ` */
function mpichTag(buf: Buffer, start: number): TagResult {
  const pos = expect(buf, start, '[');
  if (typeof pos !== 'number') return pos;
  const rank = digits(buf, pos);
  if (!Array.isArray(rank)) return rank;
  const end = expect(buf, rank[1], '] ');
  return typeof end === 'number' ? { length: end - start, rank: rank[0] } : end;
}

/** `<spaces><rank>: ` */
function srunTag(buf: Buffer, start: number): TagResult {
  let pos = start;
  while (pos < buf.length && buf[pos] === 0x20 && pos - start < 16) pos++;
  if (pos === buf.length) return 'more';
  const rank = digits(buf, pos);
  if (!Array.isArray(rank)) return rank;
  const end = expect(buf, rank[1], ': ');
  return typeof end === 'number' ? { length: end - start, rank: rank[0] } : end;
}

const TAGS: Record<Exclude<TagStyle, 'none'>, (buf: Buffer, start: number) => TagResult> = {
  openmpi: openMpiTag, mpich: mpichTag, srun: srunTag,
};

/**
 * The rule OpenMPI's own messages (show_help: "Primary job terminated normally…") open with, 74 dashes.
 * After a rank's last piece without a newline it lands on that rank's line; it is mpirun's.
 */
const OPENMPI_HELP_RULE_BYTES = 74;
const DASH = 0x2d;

/** The middle of every OpenMPI tag, to find the tags OpenMPI puts inside a line. */
const OPENMPI_TAG_MIDDLE = Buffer.from(']<std');

const LESS_THAN = 0x3c;
const CLOSE_BRACKET = 0x5d;
const ONES = 0x01010101;
const HIGH_BITS = 0x80808080 | 0;
const NEWLINES = NEWLINE * ONES;
const LESS_THANS = LESS_THAN * ONES;

/**
 * Finds line ends in one buffer, noting on the way whether the line holds `]<` (every OpenMPI tag
 * does) and whether it is all ASCII. Whole 32-bit words of ASCII holding neither `\n` nor `<` are
 * skipped with one test (the "has a zero byte" bit trick on word ^ pattern), so a line costs a quarter
 * of a byte loop and no native call: per-line native calls (indexOf) were a third of the
 * demultiplexer's time.
 */
class LineScanner {
  private buf: Buffer = Buffer.alloc(0);
  private words: Int32Array | null = null;
  /** Index in buf of words[0], the first 4-byte aligned byte. */
  private wordStart = 0;
  /** Whether the bytes the last nextNewline() passed hold `]<`. */
  sawTagMiddle = false;
  /** Whether they hold a byte above 0x7f. */
  sawNonAscii = false;

  reset(buf: Buffer): void {
    this.buf = buf;
    this.wordStart = (4 - (buf.byteOffset & 3)) & 3;
    const count = (buf.length - this.wordStart) >> 2;
    this.words = count > 0 ? new Int32Array(buf.buffer, buf.byteOffset + this.wordStart, count) : null;
  }

  /** The next `\n` at or after `pos`, -1 when there is none. */
  nextNewline(pos: number): number {
    const { buf, words, wordStart } = this;
    this.sawTagMiddle = this.sawNonAscii = false;
    let i = pos;
    while (i < buf.length) {
      if (words !== null && i >= wordStart && ((i - wordStart) & 3) === 0) {
        let w = (i - wordStart) >> 2;
        for (; w < words.length; w++) {
          const word = words[w];
          const newlines = word ^ NEWLINES;
          const lessThans = word ^ LESS_THANS;
          if ((((newlines - ONES) & ~newlines) | ((lessThans - ONES) & ~lessThans) | word) & HIGH_BITS) break;
        }
        i = wordStart + w * 4;
        if (i >= buf.length) break;
      }
      // Byte by byte through the word that may hold one (and through the unaligned edges).
      const stop = Math.min(buf.length, i + 4 - ((i - wordStart) & 3));
      for (; i < stop; i++) {
        const byte = buf[i];
        if (byte === NEWLINE) return i;
        if (byte === LESS_THAN && i > pos && buf[i - 1] === CLOSE_BRACKET) this.sawTagMiddle = true;
        else if (byte > 0x7f) this.sawNonAscii = true;
      }
    }
    return -1;
  }
}

/**
 * Buffer's own decoders, which toString() reaches after argument checks and an encoding lookup. Called
 * directly, once per line, they save a fifth of the demultiplexer's time. ASCII decodes as latin1 (the
 * same text, without UTF-8 decoding).
 */
interface BufferDecoders { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string }
function decode(buf: Buffer, start: number, end: number, ascii: boolean): string {
  const decoders = buf as unknown as BufferDecoders;
  return ascii ? decoders.latin1Slice(start, end) : decoders.utf8Slice(start, end);
}

/** An output line being assembled for one rank and stream. */
class PendingLine {
  private parts: Buffer[] = [];
  length = 0;

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    // Copied: callers may reuse the chunk they passed to write().
    this.parts.push(Buffer.from(bytes));
    this.length += bytes.length;
  }

  lastByte(): number | undefined {
    const last = this.parts[this.parts.length - 1];
    return last?.[last.length - 1];
  }

  take(): Buffer {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return all;
  }
}

/** Parser state of one of the launcher's own streams. */
interface InputState {
  /** Bytes that may be the start of a tag, kept until the next write decides. */
  carry: Buffer | null;
  /** Where the current launcher line's bytes go; null at the start of a launcher line. */
  target: Target | null;
}

/** `cut`, moved back to the start of a UTF-8 sequence so a split never breaks a character. */
function utf8Boundary(buf: Buffer, cut: number): number {
  let boundary = cut;
  while (boundary > 0 && cut - boundary < 3 && (buf[boundary] & 0xc0) === 0x80) boundary--;
  return boundary > 0 ? boundary : cut;
}

/**
 * Splits one launched process's stdout/stderr into per-rank lines and agent records. Bytes may arrive
 * in any chunking; invalid UTF-8 becomes U+FFFD; `\r\n` ends a line like `\n`. A frame that follows
 * other output on the same line (pytest's progress dots) is cut out and the line continues after it.
 */
export class RankStreams {
  private readonly decoder: FrameDecoder;
  private readonly marker: Buffer;
  private readonly tagAt: ((buf: Buffer, start: number) => TagResult) | null;
  private readonly maxLineBytes: number;
  private readonly inputs: Record<StreamName, InputState> = {
    stdout: { carry: null, target: null }, stderr: { carry: null, target: null },
  };
  /** Targets by (rank + 1) * 2 + (stderr ? 1 : 0): an array lookup per line, not a hash lookup. */
  private readonly targetsByKey: Target[] = [];
  /** The same in creation order. */
  private readonly targets: Target[] = [];
  /** Next marker position at or after the last search in the current write's buffer (Infinity: none). */
  private markerAt = -1;
  private markerSearchedFrom = 0;
  private markerBuf: Buffer | null = null;
  private readonly scanner = new LineScanner();
  private readonly runningTest = new Map<number, string>();
  private readonly lineListeners: ((line: RankLine) => void)[] = [];
  private readonly recordListeners: ((record: AgentRecord) => void)[] = [];
  private ended = false;

  constructor(private readonly opts: RankStreamsOptions) {
    this.decoder = new FrameDecoder(opts.token);
    this.marker = Buffer.from(this.decoder.marker, 'latin1');
    if (opts.tagStyle !== 'none' && !(opts.tagStyle in TAGS)) throw new Error(`unknown tag style ${String(opts.tagStyle)}`);
    this.tagAt = opts.tagStyle === 'none' ? null : TAGS[opts.tagStyle];
    this.maxLineBytes = Math.max(opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, MIN_MAX_LINE_BYTES);
  }

  onLine(listener: (line: RankLine) => void): void {
    this.lineListeners.push(listener);
  }

  onRecord(listener: (record: AgentRecord) => void): void {
    this.recordListeners.push(listener);
  }

  /** Frames that started but never completed (a rank died mid-record, or garbage with our token). */
  incompleteRecords(): number {
    return this.decoder.incompleteMessages();
  }

  write(stream: StreamName, chunk: Buffer): void {
    if (this.ended) throw new Error('RankStreams.write after end()');
    const input = this.inputs[stream];
    // Callers may reuse one Buffer for different bytes: the marker search starts over.
    this.markerBuf = null;
    let buf = chunk;
    if (input.carry) {
      buf = Buffer.concat([input.carry, chunk]);
      input.carry = null;
    }
    this.scanner.reset(buf);
    let pos = 0;
    /** Where the text of the last tag read in this write starts (-1: the line came open from before). */
    let afterTag = -1;
    while (pos < buf.length) {
      if (input.target === null) {
        const tag = this.tagAt ? this.tagAt(buf, pos) : null;
        if (tag === 'more') {
          input.carry = Buffer.from(buf.subarray(pos));
          return;
        }
        if (tag === null) {
          input.target = this.untagged(stream);
        } else {
          input.target = this.targetFor(tag.rank, tag.stream ?? stream);
          pos += tag.length;
          afterTag = pos;
        }
        continue;
      }
      const newline = this.scanner.nextNewline(pos);
      const end = newline === -1 ? buf.length : newline;
      // A line still open may end inside a tag that has not reached `]<` yet.
      if (this.opts.tagStyle === 'openmpi' && input.target.rank !== null && (newline === -1 || this.scanner.sawTagMiddle)) {
        const inner = this.innerTag(buf, pos, end, newline === -1);
        if (inner !== null) {
          this.append(input.target, buf.subarray(pos, inner.start));
          if (inner.tag === 'more') {
            input.carry = Buffer.from(buf.subarray(inner.start));
            return;
          }
          input.target = this.targetFor(inner.tag.rank, inner.tag.stream ?? stream);
          pos = inner.start + inner.tag.length;
          afterTag = pos;
          continue;
        }
      }
      if (this.opts.tagStyle === 'openmpi' && input.target.rank !== null && end > pos && (buf[end - 1] === DASH || buf[end - 1] === CARRIAGE_RETURN)) {
        const rule = this.helpRule(input.target, buf, pos, end, newline === -1, afterTag);
        if (rule !== null) {
          this.append(input.target, buf.subarray(pos, rule));
          if (newline === -1) {
            input.carry = Buffer.from(buf.subarray(rule));
            return;
          }
          input.target = this.untagged(stream);
          pos = rule;
          continue;
        }
      }
      if (newline === -1) {
        this.append(input.target, buf.subarray(pos, end));
      } else {
        this.completeLine(input.target, buf, pos, end, !this.scanner.sawNonAscii);
        input.target = null;
      }
      pos = end + 1;
    }
  }

  /** Flushes what is left: undecided tag bytes, unterminated lines, frames missing their newline. */
  end(): void {
    if (this.ended) return;
    for (const name of ['stdout', 'stderr'] as const) {
      const input = this.inputs[name];
      if (input.carry) this.append(input.target ?? this.untagged(name), input.carry);
      input.carry = null;
      input.target = null;
    }
    const empty = Buffer.alloc(0);
    for (const target of this.targets) {
      // A line that ends in a frame gets its leading output back as a new pending line: loop.
      while (target.pending && target.pending.length > 0) this.completeLine(target, empty, 0, 0);
    }
    this.ended = true;
  }

  /**
   * Where mpirun's own help rule starts at the end of a rank's open line buf[pos, end): exactly 74
   * dashes up to the newline, after other text of that line (in this write, or pending from an earlier
   * one) and not right after a tag (a rank's own line of dashes is tagged). `open` (no newline yet):
   * where dashes that may still become the rule start, for the next write to decide. null when none.
   */
  private helpRule(target: Target, buf: Buffer, pos: number, end: number, open: boolean, afterTag: number): number | null {
    let stop = end;
    if (!open && stop > pos && buf[stop - 1] === CARRIAGE_RETURN) stop--;
    let start = stop;
    while (start > pos && stop - start <= OPENMPI_HELP_RULE_BYTES && buf[start - 1] === DASH) start--;
    // A longer run of dashes, or one the line's earlier text (pending) ends, is the rank's own.
    if (start === stop || start === afterTag || stop - start > OPENMPI_HELP_RULE_BYTES) return null;
    if (start === pos && !(target.pending && target.pending.length > 0 && target.pending.lastByte() !== DASH)) return null;
    if (open) return start;
    return stop - start === OPENMPI_HELP_RULE_BYTES ? start : null;
  }

  /**
   * An OpenMPI tag inside the current launcher line, between `pos` and `end`: OpenMPI re-tags where its
   * 4 KiB read ended mid-line. When the bytes end undecided, the tag's start is returned with 'more'.
   */
  private innerTag(buf: Buffer, pos: number, end: number, open: boolean): { start: number; tag: TagMatch | 'more' } | null {
    const region = buf.subarray(pos, end);
    for (let at = region.indexOf(OPENMPI_TAG_MIDDLE); at !== -1; at = region.indexOf(OPENMPI_TAG_MIDDLE, at + 1)) {
      const start = region.lastIndexOf(OPEN_BRACKET, at);
      if (start === -1 || at - start > 21) continue;
      const tag = openMpiTag(buf, pos + start);
      if (tag !== null) return { start: pos + start, tag };
    }
    if (!open) return null;
    // The read may have ended inside a tag that has not reached `]<std` yet.
    const tailStart = Math.max(pos, end - MAX_TAG_BYTES);
    const bracket = buf.subarray(tailStart, end).lastIndexOf(OPEN_BRACKET);
    if (bracket === -1) return null;
    return openMpiTag(buf, tailStart + bracket) === 'more' ? { start: tailStart + bracket, tag: 'more' } : null;
  }

  /** Where a line without a tag goes: the launcher's own output, or the single process for style 'none'. */
  private untagged(stream: StreamName): Target {
    return this.targetFor(this.tagAt ? null : this.opts.rank ?? 0, stream);
  }

  private targetFor(rank: number | null, stream: StreamName): Target {
    const key = (rank === null ? 0 : rank + 1) * 2 + (stream === 'stderr' ? 1 : 0);
    let target = this.targetsByKey[key] as Target | undefined;
    if (!target) {
      target = { rank, stream, pending: null };
      this.targetsByKey[key] = target;
      this.targets.push(target);
    }
    return target;
  }

  private lineFor(target: Target): PendingLine {
    return (target.pending ??= new PendingLine());
  }

  /** Whether the frame marker starts in buf[start, end); one search per marker per buffer, not per line. */
  private markerIn(buf: Buffer, start: number, end: number): boolean {
    if (this.markerBuf !== buf || start < this.markerSearchedFrom) {
      this.markerBuf = buf;
      this.markerAt = -1;
    }
    if (this.markerAt !== Infinity && this.markerAt < start) {
      const at = buf.indexOf(this.marker, start);
      this.markerAt = at === -1 ? Infinity : at;
      this.markerSearchedFrom = start;
    }
    return this.markerAt + this.marker.length <= end;
  }

  private append(target: Target, bytes: Buffer): void {
    if (bytes.length === 0) return;
    const line = this.lineFor(target);
    line.push(bytes);
    while (line.length > this.maxLineBytes) {
      const all = line.take();
      const frameAt = all.indexOf(this.marker);
      // Never cut through a frame; keep a possible partial marker at the end for the next bytes.
      const cut = frameAt > 0 ? frameAt : utf8Boundary(all, Math.min(this.maxLineBytes, all.length - this.marker.length + 1));
      this.emitLine(target, all.subarray(0, cut));
      line.push(all.subarray(cut));
    }
  }

  /** The line ends with buf[start, end) (the newline excluded), which are all ASCII when `ascii`. */
  private completeLine(target: Target, buf: Buffer, start: number, end: number, ascii = false): void {
    if (end - start <= this.maxLineBytes && !(target.pending && target.pending.length > 0)) {
      // Fast path: the whole line is in this buffer.
      const stop = end > start && buf[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
      if (!this.markerIn(buf, start, stop)) {
        this.emitText(target, decode(buf, start, stop, ascii));
        return;
      }
    }
    this.append(target, buf.subarray(start, end));
    let bytes = this.lineFor(target).take();
    if (bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) bytes = bytes.subarray(0, bytes.length - 1);
    const frameAt = bytes.indexOf(this.marker);
    if (frameAt === -1) {
      this.emitLine(target, bytes);
      return;
    }
    const outcome = this.decoder.accept(bytes.toString('latin1', frameAt));
    if (outcome === 'invalid') {
      this.emitLine(target, bytes);
      return;
    }
    // Output before the frame continues on the same line once the frame is cut out.
    if (frameAt > 0) this.lineFor(target).push(bytes.subarray(0, frameAt));
    if (outcome !== 'partial' && outcome !== null) this.dispatch(outcome);
  }

  private emitLine(target: Target, bytes: Buffer): void {
    this.emitText(target, bytes.toString('utf8'));
  }

  private emitText(target: Target, text: string): void {
    const line: RankLine = { rank: target.rank, stream: target.stream, text };
    const test = target.rank === null ? undefined : this.runningTest.get(target.rank);
    if (test !== undefined) line.test = test;
    for (const listener of this.lineListeners) listener(line);
  }

  private dispatch(record: AgentRecord): void {
    if (record.kind === 'start') this.runningTest.set(record.rank, record.test);
    else if (record.kind === 'bye') this.runningTest.delete(record.rank);
    for (const listener of this.recordListeners) listener(record);
  }
}
