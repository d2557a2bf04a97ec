import type { StreamName } from '../ranks/demux';

/** A line on the wire to the log view: rank (-1: the launcher), 1 for stderr, text. */
export type WireLine = [rank: number, stderr: 0 | 1, text: string];

export interface LinesMessage {
  type: 'lines';
  /** Acknowledged by the view once written, so at most `maxUnacked` batches are ever in flight. */
  batch: number;
  /** Lines dropped before these because the view fell behind (it shows a "catching up" marker). */
  skipped: number;
  lines: WireLine[];
}

export interface LogFeedOptions {
  post(message: LinesMessage): void;
  /** A batch goes out at most this long after its first line (default 50 ms). */
  intervalMs?: number;
  /** Characters per batch (default 64 Ki). */
  maxBatchChars?: number;
  /** Batches sent and not yet acknowledged (default 2). */
  maxUnacked?: number;
  /** Characters queued while the view is behind; beyond it the oldest are dropped (default 1 Mi). */
  maxQueuedChars?: number;
}

/**
 * The extension side of the log view's transport: lines are batched by time and size, and a slow view
 * holds back new batches (acks) instead of growing a queue; when the queue is full the oldest lines are
 * dropped and the view is told how many, so it catches up on the tail. Editor-free for the benchmark.
 */
export class LogFeed {
  private queue: WireLine[] = [];
  private head = 0;
  private queuedChars = 0;
  private skipped = 0;
  private unacked = new Set<number>();
  private nextBatch = 1;
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private readonly maxBatchChars: number;
  private readonly maxUnacked: number;
  private readonly maxQueuedChars: number;
  /** Lines dropped over the feed's life. */
  droppedTotal = 0;

  constructor(private readonly opts: LogFeedOptions) {
    this.intervalMs = opts.intervalMs ?? 50;
    this.maxBatchChars = opts.maxBatchChars ?? 64 * 1024;
    this.maxUnacked = opts.maxUnacked ?? 2;
    this.maxQueuedChars = Math.max(opts.maxQueuedChars ?? 1024 * 1024, this.maxBatchChars);
  }

  get pendingChars(): number {
    return this.queuedChars;
  }

  get inFlight(): number {
    return this.unacked.size;
  }

  push(rank: number | null, stream: StreamName, text: string): void {
    this.queue.push([rank ?? -1, stream === 'stderr' ? 1 : 0, text]);
    this.queuedChars += text.length;
    if (this.queuedChars > this.maxQueuedChars) this.dropOldest();
    if (this.queuedChars >= this.maxBatchChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  ack(batch: number): void {
    if (this.unacked.delete(batch)) this.flush();
  }

  /** Forgets queued and in-flight lines (the view was reloaded or switched runs). */
  reset(): void {
    this.queue = [];
    this.head = 0;
    this.queuedChars = 0;
    this.skipped = 0;
    this.unacked.clear();
    this.clearTimer();
  }

  dispose(): void {
    this.reset();
  }

  /** Sends what the in-flight window allows; the rest waits for an ack. */
  flush(): void {
    this.clearTimer();
    while (this.head < this.queue.length && this.unacked.size < this.maxUnacked) {
      const lines: WireLine[] = [];
      let chars = 0;
      while (this.head < this.queue.length && (lines.length === 0 || chars + this.queue[this.head][2].length <= this.maxBatchChars)) {
        const line = this.queue[this.head++];
        chars += line[2].length;
        lines.push(line);
      }
      this.queuedChars -= chars;
      const batch = this.nextBatch++;
      this.unacked.add(batch);
      const skipped = this.skipped;
      this.skipped = 0;
      this.opts.post({ type: 'lines', batch, skipped, lines });
    }
    this.compact();
    if (this.head < this.queue.length && this.unacked.size < this.maxUnacked) this.timer = setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Keeps the newest half of the allowed queue: a view that fell behind jumps to the tail. */
  private dropOldest(): void {
    const target = this.maxQueuedChars / 2;
    while (this.queuedChars > target && this.queue.length - this.head > 1) {
      this.queuedChars -= this.queue[this.head++][2].length;
      this.skipped++;
      this.droppedTotal++;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
