import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestResult } from '../types';
import type { StreamName } from './demux';

/** What the log view shows next to each rank. */
export type RankState = 'waiting' | 'running' | 'passed' | 'failed' | 'crashed' | 'hung';

export interface StoredLine { seq: number; rank: number | null; stream: StreamName; text: string }

export interface RankInfo { rank: number | null; host?: string; pid?: number; state: RankState; lines: number; stderrLines: number }

export interface LogStoreOptions {
  /** Folder that holds one sub-folder per run. */
  root: string;
  /** Run folders kept; older ones are deleted when a run starts (default 10). */
  keepRuns?: number;
  /** Characters of recent lines kept in memory per rank (default 64 Ki); the full log is on disk. */
  ringChars?: number;
}

const DEFAULT_KEEP_RUNS = 10;
const DEFAULT_RING_CHARS = 64 * 1024;
/** Pending file bytes per rank before a write is issued; a timer flushes smaller remainders. */
const SPILL_CHUNK_CHARS = 64 * 1024;
const SPILL_INTERVAL_MS = 200;
const RUN_DIR = /^run-\d{8}T\d{9}-[0-9a-z]+$/;

/** A bounded FIFO of lines: the oldest go once the characters exceed the bound; the newest always stays. */
export class LineRing {
  private items: StoredLine[] = [];
  private head = 0;
  private chars = 0;

  constructor(readonly maxChars: number) {}

  push(line: StoredLine): void {
    const kept = line.text.length > this.maxChars ? { ...line, text: line.text.slice(line.text.length - this.maxChars) } : line;
    this.items.push(kept);
    this.chars += kept.text.length;
    while (this.chars > this.maxChars && this.items.length - this.head > 1) this.chars -= this.items[this.head++].text.length;
    // Compact once the dead prefix dominates, so pushes stay amortised O(1).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get totalChars(): number {
    return this.chars;
  }

  lines(): StoredLine[] {
    return this.items.slice(this.head);
  }
}

/** One rank's log: recent lines in memory, everything appended to `file`. */
class RankLog {
  readonly ring: LineRing;
  readonly info: RankInfo;
  private pending: string[] = [];
  private pendingChars = 0;
  private fd: number | null = null;

  constructor(rank: number | null, ringChars: number, readonly file: string) {
    this.ring = new LineRing(ringChars);
    this.info = { rank, state: 'waiting', lines: 0, stderrLines: 0 };
  }

  add(line: StoredLine): void {
    this.ring.push(line);
    this.info.lines++;
    if (line.stream === 'stderr') this.info.stderrLines++;
    const formatted = `${documentLabel(line.rank, line.stream)}${line.text}\n`;
    this.pending.push(formatted);
    this.pendingChars += formatted.length;
    if (this.pendingChars >= SPILL_CHUNK_CHARS) this.flush();
  }

  /**
   * Appends the pending lines to the file. Synchronous on purpose: a write stream queues without bound
   * when output comes faster than the disk takes it; this costs one write per 64 Ki characters.
   */
  flush(): void {
    if (!this.pending.length) return;
    this.fd ??= fs.openSync(this.file, 'a');
    fs.writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
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

  constructor(readonly id: string, readonly dir: string, readonly title: string, private readonly ringChars: number) {
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

  /** Recent lines of one rank, or of all ranks in arrival order (`'all'`). */
  tail(rank: number | null | 'all'): StoredLine[] {
    if (rank !== 'all') return this.ranks.get(rankKey(rank))?.ring.lines() ?? [];
    return [...this.ranks.values()].flatMap(r => r.ring.lines()).sort((a, b) => a.seq - b.seq);
  }

  /** The file that holds every line of the rank (may not exist yet: nothing written). */
  fileOf(rank: number | null): string {
    return path.join(this.dir, `${rankKey(rank)}.log`);
  }

  /** The rank's whole log as the document view shows it. */
  async readRank(rank: number | null): Promise<string> {
    this.ranks.get(rankKey(rank))?.flush();
    return fs.promises.readFile(this.fileOf(rank), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
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
      log = new RankLog(rank, this.ringChars, this.fileOf(rank));
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
  private readonly runList: RunLog[] = [];
  private readonly listeners = new Set<(run: RunLog) => void>();
  private counter = 0;

  constructor(private readonly opts: LogStoreOptions) {}

  get keepRuns(): number {
    return Math.max(1, this.opts.keepRuns ?? DEFAULT_KEEP_RUNS);
  }

  /** Creates the run's folder after deleting the oldest ones beyond keepRuns - 1. */
  async startRun(title: string): Promise<RunLog> {
    await fs.promises.mkdir(this.opts.root, { recursive: true });
    await this.prune(this.keepRuns - 1);
    const id = runFolderName(new Date(), this.counter++);
    const dir = path.join(this.opts.root, id);
    await fs.promises.mkdir(dir);
    const run = new RunLog(id, dir, title, this.opts.ringChars ?? DEFAULT_RING_CHARS);
    this.runList.push(run);
    // Memory holds the same runs as the disk.
    while (this.runList.length > this.keepRuns) this.runList.shift();
    for (const listener of this.listeners) listener(run);
    return run;
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
