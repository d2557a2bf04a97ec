import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProjectPaths } from '../projectPaths';
import type { TestResult } from '../types';
import type { StreamName } from '../ranks/demux';

/** What the log view shows next to each rank. */
export type RankState = 'waiting' | 'running' | 'passed' | 'failed' | 'crashed' | 'hung';

export interface StoredLine { seq: number; rank: number | null; stream: StreamName; text: string }

export interface RankInfo { rank: number | null; host?: string; pid?: number; state: RankState; lines: number; stderrLines: number }

/** Where a run's files are: the workspace folder, and the project root the ranks ran in (remote when placed on a host). */
export interface RunRoots { local: string; run: string }

export interface LogStoreOptions {
  /** Folder that holds one sub-folder per run. */
  root: string;
  /** Run folders kept (`distest.logs.keepRuns`); older ones are deleted when a run starts. */
  keepRuns: number;
  /** Bytes of recent output per rank in memory (default 64 KiB); the full log is on disk. */
  ringBytes?: number;
}

const DEFAULT_RING_BYTES = 64 * 1024;
const SPILL_INTERVAL_MS = 200;
/** Lines per block at most: one per 64 bytes of the block, so tiny lines cannot grow the index. */
const BYTES_PER_INDEXED_LINE = 64;
/** The document view shows at most this much of a rank's log: its end, after a note. */
const DEFAULT_DOCUMENT_BYTES = 64 * 1024 * 1024;
const RUN_DIR = /^run-\d{8}T\d{9}-[0-9a-z]+$/;
const NEWLINE = 0x0a;

/** Buffer's own UTF-8 encoder, which write() reaches after argument checks: called once per line. */
interface Utf8Writer { utf8Write(text: string, offset: number): number }

/**
 * Formatted lines (`[r3] text\n`, as the rank's file holds them) with each line's run-wide seq: half
 * of a rank's in-memory ring. Bytes off the JavaScript heap, so a run's output costs the garbage
 * collector nothing however much of it is kept.
 */
class LogBlock {
  readonly bytes: Buffer;
  used = 0;
  /** bytes[0, spilled) are in the rank's file. */
  spilled = 0;
  count = 0;
  private readonly starts: Uint32Array;
  private readonly seqs: Float64Array;

  constructor(readonly size: number) {
    this.bytes = Buffer.allocUnsafe(size);
    const lines = Math.max(1, Math.floor(size / BYTES_PER_INDEXED_LINE));
    this.starts = new Uint32Array(lines);
    this.seqs = new Float64Array(lines);
  }

  get full(): boolean {
    return this.count === this.starts.length;
  }

  /** Appends the line when `maxBytes` (its formatted size or more) fit; false leaves the block unchanged. */
  add(seq: number, label: Buffer, text: string, maxBytes: number): boolean {
    if (this.full || this.used + maxBytes > this.size) return false;
    this.starts[this.count] = this.used;
    this.seqs[this.count++] = seq;
    this.used += label.copy(this.bytes, this.used);
    this.used += (this.bytes as unknown as Utf8Writer).utf8Write(text, this.used);
    this.bytes[this.used++] = NEWLINE;
    return true;
  }

  clear(): void {
    this.used = this.spilled = this.count = 0;
  }

  /** Bytes of line `index` with its label and newline. */
  bytesAt(index: number): number {
    return (index + 1 < this.count ? this.starts[index + 1] : this.used) - this.starts[index];
  }

  /** Line `index` as stored: its stream from the label, its text after it. */
  lineAt(index: number, rank: number | null, labels: RankLabels): StoredLine {
    const start = this.starts[index];
    const end = (index + 1 < this.count ? this.starts[index + 1] : this.used) - 1;
    const stderr = labels.stderr.length <= end - start && labels.stderr.equals(this.bytes.subarray(start, start + labels.stderr.length));
    const label = stderr ? labels.stderr : labels.stdout;
    return { seq: this.seqs[index], rank, stream: stderr ? 'stderr' : 'stdout', text: this.bytes.toString('utf8', start + label.length, end) };
  }
}

interface RankLabels { stdout: Buffer; stderr: Buffer }

/** One rank's log: recent lines in two blocks in memory (the older one full), everything appended to `file`. */
class RankLog {
  readonly info: RankInfo;
  private readonly labels: RankLabels;
  /** Allocated on the first line: a rank that only said hello costs no block. */
  private current: LogBlock | null = null;
  private previous: LogBlock | null = null;
  private fd: number | null = null;

  constructor(readonly rank: number | null, private readonly blockBytes: number, readonly file: string) {
    this.info = { rank, state: 'waiting', lines: 0, stderrLines: 0 };
    this.labels = { stdout: Buffer.from(documentLabel(rank, 'stdout')), stderr: Buffer.from(documentLabel(rank, 'stderr')) };
  }

  add(line: StoredLine): void {
    this.info.lines++;
    if (line.stream === 'stderr') this.info.stderrLines++;
    const label = line.stream === 'stderr' ? this.labels.stderr : this.labels.stdout;
    // UTF-8 needs at most 3 bytes per UTF-16 unit; the exact count only when that bound does not fit.
    const bound = label.length + line.text.length * 3 + 1;
    let block = (this.current ??= new LogBlock(this.blockBytes));
    if (block.add(line.seq, label, line.text, bound)) return;
    const exact = label.length + Buffer.byteLength(line.text) + 1;
    if (block.add(line.seq, label, line.text, exact)) return;
    block = this.rotate(block);
    if (block.add(line.seq, label, line.text, exact)) return;
    // Longer than a block: whole on disk, its end in memory.
    this.write(Buffer.concat([label, Buffer.from(`${line.text}\n`)]));
    const keep = Math.floor((this.blockBytes - label.length - 4) / 3);
    block.add(line.seq, label, `…${line.text.slice(line.text.length - keep)}`, this.blockBytes);
    block.spilled = block.used;
  }

  release(): void {
    this.flush();
    this.current = this.previous = null;
  }

  /** Appends what the current block holds beyond the file. Synchronous: see rotate(). */
  flush(): void {
    const block = this.current;
    if (!block || block.spilled === block.used) return;
    this.write(block.bytes.subarray(block.spilled, block.used));
    block.spilled = block.used;
  }

  /**
   * The current block is full: it is written out and becomes the previous one. Writes are synchronous
   * and at most one block per rank: a write stream queues without bound when output comes faster
   * than the disk takes it, and memory would grow with the volume.
   */
  private rotate(full: LogBlock): LogBlock {
    this.flush();
    const spare = this.previous;
    this.previous = full;
    this.current = spare ?? new LogBlock(this.blockBytes);
    this.current.clear();
    return this.current;
  }

  private write(bytes: Buffer): void {
    this.fd ??= fs.openSync(this.file, 'a');
    for (let at = 0; at < bytes.length;) at += fs.writeSync(this.fd, bytes, at);
  }

  /** The newest lines in memory, oldest first, at most `maxBytes` of them as stored (at least one). */
  recent(maxBytes = Infinity): StoredLine[] {
    const lines: StoredLine[] = [];
    let bytes = 0;
    for (const block of [this.current, this.previous]) {
      if (!block) continue;
      for (let i = block.count - 1; i >= 0; i--) {
        bytes += block.bytesAt(i);
        if (bytes > maxBytes && lines.length > 0) return lines.reverse();
        lines.push(block.lineAt(i, this.rank, this.labels));
      }
    }
    return lines.reverse();
  }

  close(): void {
    this.flush();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** `[r3] ` / `[r3!] ` (stderr) / `[mpirun] `: the label each line carries in the document view. */
export function documentLabel(rank: number | null, stream: StreamName): string {
  const who = rank === null ? 'mpirun' : `r${rank}`;
  return stream === 'stderr' ? `[${who}!] ` : `[${who}] `;
}

export const rankKey = (rank: number | null): string => (rank === null ? 'launcher' : String(rank));

/** The file of a run folder that holds every line of the rank (may not exist: nothing written). */
export const rankLogFile = (dir: string, rank: number | null): string => path.join(dir, `${rankKey(rank)}.log`);

/** The ranks a run folder holds logs of, in rank order, the launcher's last; none when the folder is gone. */
export function rankLogsIn(dir: string): (number | null)[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const keys = names.map(n => /^(\d+|launcher)\.log$/.exec(n)?.[1]).filter((k): k is string => k !== undefined);
  const ranks = keys.filter(k => k !== 'launcher').map(Number).sort((a, b) => a - b);
  return keys.includes('launcher') ? [...ranks, null] : ranks;
}

/** One run's per-rank logs. Lines keep their arrival order per rank and carry a run-wide `seq`. */
export class RunLog {
  private readonly ranks = new Map<string, RankLog>();
  private readonly listeners = new Set<(line: StoredLine) => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  /** Rank states per test id, from the test results. */
  readonly testStates = new Map<string, Map<number, RankState>>();

  constructor(readonly id: string, readonly dir: string, readonly title: string, private readonly ringBytes: number, private readonly roots?: RunRoots) {
    this.timer = setInterval(() => this.flush(), SPILL_INTERVAL_MS);
    this.timer.unref();
  }

  get running(): boolean {
    return !this.closed;
  }

  append(rank: number | null, stream: StreamName, text: string): StoredLine {
    const line: StoredLine = { seq: this.seq++, rank, stream, text };
    const log = this.rankLog(rank);
    if (log.info.state === 'waiting' && rank !== null) log.info.state = 'running';
    log.add(line);
    for (const listener of this.listeners) listener(line);
    return line;
  }

  /** A rank said hello: where it runs. */
  setHost(rank: number, host: string, pid: number): void {
    const info = this.rankLog(rank).info;
    info.host = host;
    info.pid = pid;
    if (info.state === 'waiting') info.state = 'running';
    this.changed();
  }

  /**
   * A test finished: its ranks' states for that test, and each rank's overall state (a rank that
   * failed anything stays failed; crashed and hung win over failed).
   */
  setTestStates(test: string, states: Map<number, RankState>): void {
    this.testStates.set(test, states);
    const severity: RankState[] = ['waiting', 'running', 'passed', 'failed', 'hung', 'crashed'];
    for (const [rank, state] of states) {
      const info = this.rankLog(rank).info;
      if (severity.indexOf(state) > severity.indexOf(info.state)) info.state = state;
    }
    this.changed();
  }

  rankInfos(): RankInfo[] {
    return [...this.ranks.values()].map(r => ({ ...r.info })).sort((a, b) => (a.rank ?? -1) - (b.rank ?? -1));
  }

  /**
   * Lines still in memory, in arrival order: of one rank, or of every rank (`'all'`) each with an
   * equal share of `maxBytes`, so that with many ranks each still shows its newest lines.
   */
  recent(rank: number | null | 'all', maxBytes = Infinity): StoredLine[] {
    if (rank !== 'all') return this.ranks.get(rankKey(rank))?.recent(maxBytes) ?? [];
    const share = maxBytes / Math.max(1, this.ranks.size);
    return [...this.ranks.values()].flatMap(r => r.recent(share)).sort((a, b) => a.seq - b.seq);
  }

  /** Frees the in-memory lines (a newer run took over the view); the files stay. */
  release(): void {
    for (const log of this.ranks.values()) log.release();
  }

  /**
   * A file the output names, as a local path: relative ones from the workspace folder, those under a
   * remote project root mapped back onto it. Undefined for a relative path of a run without a folder.
   */
  localPath(file: string): string | undefined {
    if (!this.roots) return path.isAbsolute(file) ? file : undefined;
    const { local, run } = this.roots;
    return new ProjectPaths(local, run).localPath(file);
  }

  /** The file that holds every line of the rank (may not exist yet: nothing written). */
  fileOf(rank: number | null): string {
    return rankLogFile(this.dir, rank);
  }

  /**
   * The rank's log as the document view shows it: whole, or its last `maxBytes` (from a line start)
   * after a note, so a log of gigabytes does not become a string of gigabytes.
   */
  async readRank(rank: number | null, maxBytes = DEFAULT_DOCUMENT_BYTES): Promise<string> {
    this.ranks.get(rankKey(rank))?.flush();
    const file = this.fileOf(rank);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const from = Math.max(0, size - maxBytes);
      const bytes = Buffer.alloc(size - from);
      for (let at = 0; at < bytes.length;) {
        const { bytesRead } = await handle.read(bytes, at, bytes.length - at, from + at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      if (from === 0) return bytes.toString('utf8');
      const lineStart = bytes.indexOf(NEWLINE) + 1;
      return `distest: the first ${from + lineStart} bytes of this log are not shown; the whole log is ${file}\n${bytes.toString('utf8', lineStart)}`;
    } finally {
      await handle.close();
    }
  }

  onLine(listener: (line: StoredLine) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  onChange(listener: () => void): { dispose(): void } {
    this.changeListeners.add(listener);
    return { dispose: () => this.changeListeners.delete(listener) };
  }

  flush(): void {
    for (const log of this.ranks.values()) log.flush();
  }

  /** Ends the run: ranks still running without a result keep their state; files are complete after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const log of this.ranks.values()) log.close();
    this.changed();
  }

  private rankLog(rank: number | null): RankLog {
    const key = rankKey(rank);
    let log = this.ranks.get(key);
    if (!log) {
      log = new RankLog(rank, Math.max(1024, Math.floor(this.ringBytes / 2)), this.fileOf(rank));
      this.ranks.set(key, log);
      this.changed();
    }
    return log;
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }
}

function runFolderName(now: Date, unique: number): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '').replace('Z', '');
  return `run-${stamp}-${unique.toString(36)}`;
}

/** Runs' logs under one folder, keeping the newest `keepRuns` run folders on disk. */
export class LogStore {
  private runList: RunLog[] = [];
  private readonly listeners = new Set<(run: RunLog) => void>();
  private counter = 0;

  private keep: number;

  constructor(private readonly opts: LogStoreOptions) {
    this.keep = Math.max(1, opts.keepRuns);
  }

  get keepRuns(): number {
    return this.keep;
  }

  /** A new keepRuns (the setting changed): older run folders go at once, except runs still running. */
  async setKeepRuns(keepRuns: number): Promise<void> {
    this.keep = Math.max(1, keepRuns);
    this.forgetBeyondKept();
    if (fs.existsSync(this.opts.root)) await this.prune(this.keep);
  }

  /** Creates the run's folder after deleting the oldest ones beyond keepRuns - 1. */
  async startRun(title: string, roots?: RunRoots): Promise<RunLog> {
    await fs.promises.mkdir(this.opts.root, { recursive: true });
    await this.prune(this.keepRuns - 1);
    const id = runFolderName(new Date(), this.counter++);
    const dir = path.join(this.opts.root, id);
    await fs.promises.mkdir(dir);
    const run = new RunLog(id, dir, title, this.opts.ringBytes ?? DEFAULT_RING_BYTES, roots);
    // The view follows the newest run; older ones are read from their files.
    for (const older of this.runList) older.release();
    this.runList.push(run);
    this.forgetBeyondKept();
    for (const listener of this.listeners) listener(run);
    return run;
  }

  /** Memory holds the same runs as the disk (see prune): the newest keepRuns, and any still running. */
  private forgetBeyondKept(): void {
    const newest = new Set(this.runList.slice(-this.keep));
    this.runList = this.runList.filter(r => r.running || newest.has(r));
  }

  /**
   * Forgets a finished run and deletes its folder (a study's passed iteration, so that the kept runs
   * are the failing ones).
   */
  async discard(run: RunLog): Promise<void> {
    run.close();
    this.runList = this.runList.filter(r => r !== run);
    await fs.promises.rm(run.dir, { recursive: true, force: true });
  }

  /** Runs of this session, oldest first. */
  runs(): readonly RunLog[] {
    return this.runList;
  }

  latest(): RunLog | undefined {
    return this.runList[this.runList.length - 1];
  }

  onRun(listener: (run: RunLog) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Deletes run folders (by name, oldest first) until at most `keep` remain. Other files are left alone. */
  async prune(keep: number): Promise<string[]> {
    const names = (await fs.promises.readdir(this.opts.root)).filter(n => RUN_DIR.test(n)).sort();
    const doomed = names.slice(0, Math.max(0, names.length - keep));
    const open = new Set(this.runList.filter(r => r.running).map(r => r.id));
    await Promise.all(doomed.filter(n => !open.has(n)).map(n => fs.promises.rm(path.join(this.opts.root, n), { recursive: true, force: true })));
    return doomed;
  }
}

/**
 * Each rank's state in a finished test: a rank in failedRanks that never reported crashed (or hung,
 * when the launch timed out); one that reported a failure failed; the others passed.
 */
export function rankStatesOf(result: TestResult): Map<number, RankState> {
  const timedOut = result.messages.some(m => m.rank === null && m.text.startsWith('timed out'));
  const states = new Map<number, RankState>();
  for (let rank = 0; rank < result.ranks; rank++) {
    let state: RankState = 'passed';
    if (result.failedRanks.includes(rank)) {
      const silent = !result.messages.some(m => m.rank === rank) || result.messages.some(m => m.rank === rank && m.text.includes('never reported'));
      state = !silent ? 'failed' : timedOut ? 'hung' : 'crashed';
    }
    states.set(rank, state);
  }
  return states;
}
