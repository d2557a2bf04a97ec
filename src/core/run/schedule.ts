// Packing an allocation: which launches run at the same time, on which slots. Pure: no I/O, no clock.
// runTests (run.ts) asks `startable` whenever a launch ends (and at the start) and starts what it
// returns; `partCount` says into how many launches a batch of one rank count is worth splitting.
//
// The rules: jobs are ordered longest first by their estimate (recorded per-test durations plus a
// launch's start-up); a job starts on the first slots that hold it (first fit, one host's slots before
// spreading over several); a slot never runs tests of two launches (a launch may start up on slots an
// ending launch still holds, and wait there: gate.ts). A job larger than the allocation
// (local oversubscription) or of unknown size (a launcher that decides its rank count) runs alone.
// One launch at a time keeps the given order (today's sequential behaviour).

/** Slots of one machine of the allocation (the local machine is one pool). */
export interface SlotPool { name: string; slots: number }

export interface ScheduleLimits {
  pools: SlotPool[];
  /** Launches at once, ≥ 1. */
  maxLaunches: number;
}

export interface Job {
  key: number;
  /** Ranks (slots) the launch takes; 0: unknown (the launcher decides), runs alone. */
  ranks: number;
  /** Expected wall time of the launch, for the longest-first order. */
  estimateMs: number;
}

/** A job started on these slots (per pool name; empty for a job that runs alone). */
export interface Placed<J extends Job = Job> { job: J; slots: SlotPool[]; alone: boolean }

/** A running job's hold on the allocation. */
export type Running = Pick<Placed, 'slots' | 'alone'>;

/** What a launch costs beyond its tests (mpirun start-up, python and pytest imports), when nothing better is known. */
export const LAUNCH_OVERHEAD_MS = 1000;
/** A test no run has timed yet. */
export const UNKNOWN_TEST_MS = 200;

/** Longest first (stable); one launch at a time keeps the plan's order. */
export function order<J extends Job>(jobs: J[], limits: ScheduleLimits): J[] {
  if (limits.maxLaunches <= 1) return [...jobs];
  return jobs.map((job, i) => ({ job, i })).sort((a, b) => b.job.estimateMs - a.job.estimateMs || a.i - b.i).map(x => x.job);
}

function totalSlots(pools: SlotPool[]): number {
  return pools.reduce((n, p) => n + p.slots, 0);
}

/** Whether a job cannot share the allocation: bigger than it, or of unknown size. */
export function runsAlone(job: Pick<Job, 'ranks'>, limits: ScheduleLimits): boolean {
  return job.ranks <= 0 || job.ranks > totalSlots(limits.pools) || limits.maxLaunches <= 1;
}

/**
 * The jobs of `queue` (already in order) to start now beside `running`, with their slots: first fit,
 * in queue order, until no launch or no slot is left. Never returns a job that does not fit, except a
 * job that runs alone when nothing runs (so the queue always drains).
 */
export function startable<J extends Job>(queue: J[], running: Running[], limits: ScheduleLimits): Placed<J>[] {
  const free = new Map(limits.pools.map(p => [p.name, p.slots]));
  for (const r of running) for (const s of r.slots) free.set(s.name, (free.get(s.name) ?? 0) - s.slots);
  let launches = running.length;
  let alone = running.some(r => r.alone);
  const started: Placed<J>[] = [];
  for (const job of queue) {
    if (alone || launches >= Math.max(1, limits.maxLaunches)) break;
    if (runsAlone(job, limits)) {
      if (launches > 0) continue;
      started.push({ job, slots: [], alone: true });
      alone = true;
      launches++;
      continue;
    }
    const slots = fit(job.ranks, limits.pools, free);
    if (!slots) continue;
    for (const s of slots) free.set(s.name, (free.get(s.name) ?? 0) - s.slots);
    started.push({ job, slots, alone: false });
    launches++;
  }
  return started;
}

/** Slots for `ranks`: the first pool holding them all, else pools in order until they do; null when they do not fit. */
function fit(ranks: number, pools: SlotPool[], free: Map<string, number>): SlotPool[] | null {
  const whole = pools.find(p => (free.get(p.name) ?? 0) >= ranks);
  if (whole) return [{ name: whole.name, slots: ranks }];
  const taken: SlotPool[] = [];
  let left = ranks;
  for (const p of pools) {
    const n = Math.min(free.get(p.name) ?? 0, left);
    if (n <= 0) continue;
    taken.push({ name: p.name, slots: n });
    left -= n;
    if (left === 0) return taken;
  }
  return null;
}

/**
 * Into how many launches to split a batch of `ranks`-rank tests taking `workMs` (their recorded
 * durations): as many as fit the allocation side by side, as long as each part keeps at least
 * `minPartMs` of work, so that an extra launch's start-up pays for itself.
 */
export function partCount(ranks: number, workMs: number, tests: number, limits: ScheduleLimits, minPartMs = 2 * LAUNCH_OVERHEAD_MS): number {
  if (ranks <= 0 || limits.maxLaunches <= 1) return 1;
  const side = Math.floor(totalSlots(limits.pools) / ranks);
  return Math.max(1, Math.min(side, limits.maxLaunches, tests, Math.floor(workMs / minPartMs)));
}

/** Splits items into `parts` groups of about equal weight (heaviest first onto the lightest group), each keeping the given order. */
export function balance<T>(items: T[], weight: (item: T) => number, parts: number): T[][] {
  if (parts <= 1 || items.length <= 1) return [items];
  const loads = Array.from({ length: Math.min(parts, items.length) }, () => ({ ms: 0, at: [] as number[] }));
  const byWeight = items.map((item, i) => ({ i, w: weight(item) })).sort((a, b) => b.w - a.w || a.i - b.i);
  for (const { i, w } of byWeight) {
    const lightest = loads.reduce((min, l) => (l.ms < min.ms ? l : min));
    lightest.ms += w;
    lightest.at.push(i);
  }
  return loads.map(l => l.at.sort((a, b) => a - b).map(i => items[i]));
}

/** The time `jobs` take under `startable` when each takes its estimate: the makespan a schedule aims at. */
export function simulate(jobs: Job[], limits: ScheduleLimits): { makespanMs: number; starts: Map<number, number> } {
  let queue = order(jobs, limits);
  const running: (Placed & { endMs: number })[] = [];
  const starts = new Map<number, number>();
  let now = 0;
  while (queue.length || running.length) {
    for (const p of startable(queue, running, limits)) {
      starts.set(p.job.key, now);
      running.push({ ...p, endMs: now + p.job.estimateMs });
      queue = queue.filter(j => j !== p.job);
    }
    running.sort((a, b) => a.endMs - b.endMs);
    const done = running.shift();
    if (!done) break;
    now = done.endMs;
  }
  return { makespanMs: now, starts };
}
