// Decides when a launch hangs: a rank stays in one test (or in start-up/collection) longer than that
// test's limit, or the whole launch is silent for `silenceMs`. Also remembers which test each rank is
// in and its pid/host, which the stack capture and crash analysis need.
import type { AgentRecord } from '../types';

export interface WatchdogOptions {
  /** Limit for a test without its own, and for start-up and collection; 0/undefined: none. */
  defaultMs?: number;
  /** Per-test limits (`@pytest.mark.timeout`). */
  testLimitMs?: (test: string) => number | undefined;
  /** No output and no record from any rank for this long; 0/undefined: off. */
  silenceMs?: number;
  now?: () => number;
}

export interface Expiry {
  reason: 'timeout' | 'silence';
  limitMs: number;
  /** The test a rank overran (timeout), absent when it was start-up or collection. */
  test?: string;
}

export interface RankProcess { rank: number; host: string; pid: number }

interface Position { test: string | null; since: number }

export class HangWatchdog {
  private readonly now: () => number;
  private startedAt: number;
  /** Why the clocks stand still (ranks paused in a debugger, waiting for one), and since when. */
  private readonly holds = new Set<string>();
  private heldSince = 0;
  private lastActivity: number;
  private readonly positions = new Map<number, Position>();
  readonly processes = new Map<number, RankProcess>();

  constructor(private readonly opts: WatchdogOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.lastActivity = this.now();
  }

  /** Any output from the launch. */
  activity(): void {
    this.lastActivity = this.now();
  }

  record(r: AgentRecord): void {
    this.activity();
    const at = this.lastActivity;
    switch (r.kind) {
      case 'hello':
        this.processes.set(r.rank, { rank: r.rank, host: r.host, pid: r.pid });
        this.positions.set(r.rank, { test: null, since: at });
        break;
      case 'start':
        this.positions.set(r.rank, { test: r.test, since: at });
        break;
      case 'bye':
        // Done with tests but still alive (MPI finalize, teardown): the default limit applies.
        this.positions.set(r.rank, { test: null, since: at });
        break;
      case 'result':
      case 'debug':
        break;
    }
  }

  /** The test each rank is in (ranks between tests or not yet started are absent). */
  testOf(rank: number): string | undefined {
    return this.positions.get(rank)?.test ?? undefined;
  }

  /**
   * Stops every clock (per-test limits, start-up, silence) while `reason` holds: a rank paused in a
   * debugger is not a hang, and the ranks waiting for it in a collective are not either.
   */
  hold(reason: string): void {
    if (this.holds.size === 0) this.heldSince = this.now();
    this.holds.add(reason);
  }

  /** Ends a hold; when none is left, the clocks go on where they stood (the paused time does not count). */
  release(reason: string): void {
    if (!this.holds.delete(reason) || this.holds.size > 0) return;
    const now = this.now();
    const paused = now - this.heldSince;
    // What happened during the hold starts its clock no later than now.
    const shift = (at: number) => Math.min(at + paused, now);
    this.startedAt = shift(this.startedAt);
    this.lastActivity = shift(this.lastActivity);
    for (const position of this.positions.values()) position.since = shift(position.since);
  }

  get held(): boolean {
    return this.holds.size > 0;
  }

  /** The first limit that ran out, or null. */
  check(): Expiry | null {
    if (this.holds.size > 0) return null;
    const now = this.now();
    const { silenceMs, defaultMs } = this.opts;
    for (const { test, since } of this.positions.values()) {
      const limit = (test !== null ? this.opts.testLimitMs?.(test) : undefined) ?? defaultMs;
      if (limit && now - since > limit) return { reason: 'timeout', limitMs: limit, ...(test !== null ? { test } : {}) };
    }
    if (this.positions.size === 0 && defaultMs && now - this.startedAt > defaultMs) {
      return { reason: 'timeout', limitMs: defaultMs };
    }
    if (silenceMs && now - this.lastActivity > silenceMs) return { reason: 'silence', limitMs: silenceMs };
    return null;
  }
}
