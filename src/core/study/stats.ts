// The pure side of studies: what a list of iterations (repeat) or of timed samples per rank count
// (scale) says. No launches, no clock: the study runner (study.ts) feeds it, the CLI and the editor
// print what it returns, the history stores it.
import type { Fault, ResultMessage, TestResult, TestState } from '../types';

/** How one iteration ended, as a study counts it: an errored iteration is a hang, a crash or neither. */
export type IterationKind = 'passed' | 'failed' | 'hang' | 'crash' | 'errored' | 'skipped';

/** One launch of the test in a repeat study (1-based `iteration`). */
export interface Iteration {
  iteration: number;
  state: TestState;
  kind: IterationKind;
  /** The test body as the agent measured it (slowest rank's setup + call + teardown). */
  durationMs: number;
  /** The whole launch as this side saw it (start-up, test, shutdown, sweep). */
  wallMs: number;
  /** Messages and faults of a failing iteration (stacks, cores); empty for passed ones. */
  messages: ResultMessage[];
  faults: Fault[];
  /** Where its rank logs are kept (editor: the run folder), when they are. */
  logDir?: string;
}

export interface Spread { min: number; median: number; p95: number; max: number }

export interface OutcomeGroup {
  kind: Exclude<IterationKind, 'passed' | 'skipped'>;
  ranks: number[];
  message: string;
  file: string | null;
  line: number | null;
  iterations: number[];
}

export interface RepeatSummary {
  iterations: number;
  outcomes: { passed: number; failed: number; errored: number; skipped: number };
  /** Errored iterations split further: hangs and crashes (the rest errored otherwise). */
  kinds: { hang: number; crash: number };
  /** Failed + errored over the iterations that ran (skipped ones do not count); null when none ran. */
  failureRate: number | null;
  ci95: [number, number] | null;
  /** The first iteration that failed or errored, 1-based; null when none did. */
  firstFailure: number | null;
  durationsMs: Spread | null;
  wallMs: Spread | null;
  groups: OutcomeGroup[];
}

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

/**
 * Wilson score interval for `failures` out of `n` trials (95%). Unlike the normal approximation it
 * stays inside [0, 1] and is not empty at 0 or n failures, which is what a flaky test usually shows.
 */
export function wilson(failures: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1];
  const p = failures / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** The q-quantile (0..1) by linear interpolation between order statistics (R's type 7, numpy's default). */
export function quantile(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export function spread(values: readonly number[]): Spread | null {
  if (!values.length) return null;
  return { min: Math.min(...values), median: median(values), p95: quantile(values, 0.95), max: Math.max(...values) };
}

/** What a test result counts as in a study. */
export function iterationKind(result: Pick<TestResult, 'state' | 'faults'>): IterationKind {
  if (result.state !== 'errored') return result.state;
  const faults = result.faults ?? [];
  if (faults.some(f => f.kind === 'hang')) return 'hang';
  if (faults.some(f => f.kind === 'signal' || f.kind === 'core')) return 'crash';
  return 'errored';
}

/** `rank 1 of 3: AssertionError: x` → `AssertionError: x`, first line only: the same failure on other ranks reads the same. */
export function messageKey(text: string): string {
  const first = text.split('\n', 1)[0].trim();
  return first.replace(/^ranks? [\d, ]+(?:of \d+)?(?: \([^)]*\))?:\s*/, '').replace(/ at [^\s:]+:\d+$/, '');
}

/** The innermost frame in the user's code: the fault's own file and line (workspace-relative) when it has them. */
function frameOf(f: Fault): { file: string; line: number; function: string } | undefined {
  if (!f.file) return f.stack[0];
  const inner = f.stack.find(fr => fr.line === f.line && (fr.file === f.file || fr.file.endsWith(`/${f.file}`)));
  return { file: f.file, line: f.line ?? 0, function: inner?.function ?? f.stack[0]?.function ?? '?' };
}

/**
 * The groups one failing iteration falls into: a failure by (its ranks, message, line); a hang by its
 * stack groups (the ranks waiting at each innermost frame); a crash by signal and ranks.
 */
export function groupsOf(it: Iteration): Omit<OutcomeGroup, 'iterations'>[] {
  switch (it.kind) {
    case 'passed':
    case 'skipped':
      return [];
    case 'hang': {
      const byFrame = new Map<string, { ranks: number[]; file: string | null; line: number | null; function: string }>();
      for (const f of it.faults.filter(x => x.kind === 'hang')) {
        const frame = frameOf(f);
        const key = frame ? `${frame.file}:${frame.line}:${frame.function}` : '?';
        const entry = byFrame.get(key) ?? { ranks: [], file: frame?.file ?? null, line: frame?.line ?? null, function: frame?.function ?? '?' };
        entry.ranks.push(f.rank);
        byFrame.set(key, entry);
      }
      const groups = [...byFrame.values()].sort((a, b) => Math.min(...a.ranks) - Math.min(...b.ranks));
      return groups.map(g => ({
        kind: 'hang' as const,
        ranks: sortedRanks(g.ranks),
        message: `${g.ranks.length === 1 ? 'rank' : 'ranks'} ${sortedRanks(g.ranks).join(', ')} wait in ${g.function}()${g.file ? ` at ${g.file}:${g.line}` : ''}`,
        file: g.file,
        line: g.line,
      }));
    }
    case 'crash': {
      const bySignal = new Map<string, Fault[]>();
      for (const f of it.faults.filter(x => x.kind === 'signal' || x.kind === 'core')) {
        const key = f.signal ?? 'signal';
        bySignal.set(key, [...(bySignal.get(key) ?? []), f]);
      }
      return [...bySignal].map(([signal, faults]) => {
        const ranks = sortedRanks(faults.map(f => f.rank));
        const at = faults.find(f => f.file);
        return { kind: 'crash' as const, ranks, message: `${signal} on ${ranks.length === 1 ? 'rank' : 'ranks'} ${ranks.join(', ')}`, file: at?.file ?? null, line: at?.line ?? null };
      });
    }
    case 'failed':
    case 'errored': {
      const byMessage = new Map<string, { ranks: number[]; message: string; file: string | null; line: number | null }>();
      for (const m of it.messages) {
        const message = messageKey(m.text);
        const key = `${message}\0${m.file ?? ''}\0${m.line ?? ''}`;
        const entry = byMessage.get(key) ?? { ranks: [], message, file: m.file ?? null, line: m.line ?? null };
        if (m.rank !== null) entry.ranks.push(m.rank);
        byMessage.set(key, entry);
      }
      if (!byMessage.size) return [{ kind: it.kind, ranks: [], message: it.kind, file: null, line: null }];
      return [...byMessage.values()].map(g => ({ kind: it.kind as 'failed' | 'errored', ...g, ranks: sortedRanks(g.ranks) }));
    }
  }
}

function sortedRanks(ranks: number[]): number[] {
  return [...new Set(ranks)].sort((a, b) => a - b);
}

/** Everything a repeat study reports, from its iterations in order. */
export function summarizeRepeat(iterations: readonly Iteration[]): RepeatSummary {
  const count = (s: TestState) => iterations.filter(i => i.state === s).length;
  const outcomes = { passed: count('passed'), failed: count('failed'), errored: count('errored'), skipped: count('skipped') };
  const ran = iterations.filter(i => i.state !== 'skipped');
  const failures = outcomes.failed + outcomes.errored;
  const groups = new Map<string, OutcomeGroup>();
  for (const it of iterations) {
    for (const g of groupsOf(it)) {
      const key = JSON.stringify([g.kind, g.ranks, g.message, g.file, g.line]);
      const group = groups.get(key) ?? { ...g, iterations: [] };
      if (!group.iterations.includes(it.iteration)) group.iterations.push(it.iteration);
      groups.set(key, group);
    }
  }
  return {
    iterations: iterations.length,
    outcomes,
    kinds: { hang: iterations.filter(i => i.kind === 'hang').length, crash: iterations.filter(i => i.kind === 'crash').length },
    failureRate: ran.length ? failures / ran.length : null,
    ci95: ran.length ? wilson(failures, ran.length) : null,
    firstFailure: iterations.find(i => i.state === 'failed' || i.state === 'errored')?.iteration ?? null,
    durationsMs: spread(ran.map(i => i.durationMs)),
    wallMs: spread(ran.map(i => i.wallMs)),
    groups: [...groups.values()].sort((a, b) => b.iterations.length - a.iterations.length || a.iterations[0] - b.iterations[0]),
  };
}

/** `12/20 · 1 failed · 1 hang`: the progress line of a repeat study. */
export function repeatProgress(iterations: readonly Iteration[], planned: number | null): string {
  const parts = [`${iterations.length}${planned !== null ? `/${planned}` : ''}`];
  for (const kind of ['failed', 'hang', 'crash', 'errored', 'skipped'] as const) {
    const n = iterations.filter(i => i.kind === kind).length;
    if (n) parts.push(`${n} ${kind}`);
  }
  return parts.join(' · ');
}

/** One timed launch at a rank count. */
export interface ScaleSample { bodyMs: number; wallMs: number; state: TestState }

export interface ScalePoint {
  ranks: number;
  samples: ScaleSample[];
  /** Median, min and max body time of the passed samples (null when none passed). */
  bodyMs: { median: number; min: number; max: number } | null;
  /** Median of (wall − body): launch, start-up and shutdown beside the test body. */
  overheadMs: number | null;
  /** Strong scaling: T(base) / T(n). Weak scaling: null. */
  speedup: number | null;
  /** Strong: speedup × base / n. Weak: T(base) / T(n). 1 is ideal. */
  efficiency: number | null;
  /** Weak scaling: T(n) / T(base) (ideal 1). Strong: null. */
  timeRatio: number | null;
}

/** The scaling table from samples per rank count, against the smallest count that has a time. */
export function scaleTable(samples: ReadonlyMap<number, readonly ScaleSample[]>, weak: boolean): ScalePoint[] {
  const points = [...samples].sort((a, b) => a[0] - b[0]).map(([ranks, list]) => {
    const passed = list.filter(s => s.state === 'passed');
    const body = passed.map(s => s.bodyMs);
    return {
      ranks,
      samples: [...list],
      bodyMs: body.length ? { median: median(body), min: Math.min(...body), max: Math.max(...body) } : null,
      overheadMs: passed.length ? median(passed.map(s => Math.max(0, s.wallMs - s.bodyMs))) : null,
    };
  });
  const base = points.find(p => p.bodyMs && p.bodyMs.median > 0);
  return points.map(p => {
    if (!base?.bodyMs || !p.bodyMs || p.bodyMs.median <= 0) return { ...p, speedup: null, efficiency: null, timeRatio: null };
    const t0 = base.bodyMs.median;
    const t = p.bodyMs.median;
    if (weak) return { ...p, speedup: null, efficiency: t0 / t, timeRatio: t / t0 };
    const speedup = t0 / t;
    return { ...p, speedup, efficiency: (speedup * base.ranks) / p.ranks, timeRatio: null };
  });
}

/** 1, 2, 4, … up to `slots` (and `slots` itself when it is not a power of two). */
export function defaultRankCounts(slots: number, min = 1): number[] {
  const counts: number[] = [];
  for (let n = 1; n <= slots; n *= 2) if (n >= min) counts.push(n);
  if (slots >= min && !counts.includes(slots)) counts.push(slots);
  return counts;
}

/** `--ranks 1,2,4,8` → [1, 2, 4, 8]; throws with what is wrong. */
export function parseRankList(text: string): number[] {
  const parts = text.split(',').map(s => s.trim());
  const counts = parts.map(Number);
  const bad = parts.filter((s, i) => s === '' || !Number.isSafeInteger(counts[i]) || counts[i] < 1);
  if (bad.length || !parts.length) throw new Error(`rank counts are whole numbers ≥ 1 separated by commas (1,2,4,8), got ${JSON.stringify(text)}`);
  return [...new Set(counts)].sort((a, b) => a - b);
}

const CSV_HEADER_STRONG = 'ranks,median_ms,min_ms,max_ms,overhead_ms,speedup,efficiency,samples,passed';
const CSV_HEADER_WEAK = 'ranks,median_ms,min_ms,max_ms,overhead_ms,time_ratio,efficiency,samples,passed';

/** The scaling table as CSV (one header line, one line per rank count; empty fields where unknown). */
export function scaleCsv(points: readonly ScalePoint[], weak: boolean): string {
  const num = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '' : Number(v.toFixed(digits)).toString());
  const lines = [weak ? CSV_HEADER_WEAK : CSV_HEADER_STRONG];
  for (const p of points) {
    lines.push([
      p.ranks, num(p.bodyMs?.median, 3), num(p.bodyMs?.min, 3), num(p.bodyMs?.max, 3), num(p.overheadMs, 3),
      num(weak ? p.timeRatio : p.speedup, 4), num(p.efficiency, 4), p.samples.length, p.samples.filter(s => s.state === 'passed').length,
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}
