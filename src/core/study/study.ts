// Studies: a test launched many times, as iterations of the one run session (runSession), on one
// allocation for the whole study (a `slurm:new` job is created once, not per iteration). Repeat runs
// it N times or until it fails; Scale runs it K times at each rank count. Cancel stops the current
// iteration and keeps what the finished ones measured.
import { allocationLabel, allocationSlots, type Allocation } from '../allocation/allocation';
import type { ResolvedAllocation } from '../allocation/resolve';
import type { DistestSettings } from '../settings';
import type { ProjectPaths } from '../projectPaths';
import type { Fault, TestResult, TestSpec } from '../types';
import { runSession, type SessionEvents, type SessionOptions } from '../run/session';
import { defaultRankCounts, iterationKind, repeatProgress, scaleTable, summarizeRepeat, type Iteration, type RepeatSummary, type ScalePoint, type ScaleSample } from './stats';

export class StudyError extends Error {}

export interface StudyOptions {
  root: string;
  settings: DistestSettings;
  allocation: SessionOptions['allocation'];
  signal?: AbortSignal;
  timeoutSeconds?: number;
  /** Events for one iteration's session (output, results), e.g. to keep its rank logs. */
  iterationEvents?(label: IterationLabel): SessionEvents & { done?(result: TestResult, iteration: Iteration): void | Promise<void> };
  /** The study's own progress (`12/20 · 1 failed`), allocation notes. */
  progress?(text: string): void;
}

export interface IterationLabel { iteration: number; planned: number | null; ranks?: number }

interface StudyBase {
  version: 1;
  id: string;
  startedAt: string;
  allocation: string;
  /** Stopped by cancel before every planned iteration ran. */
  cancelled: boolean;
}

export interface RepeatStudy extends StudyBase, RepeatSummary {
  kind: 'repeat';
  ranks: number;
  requested: number;
  untilFail: boolean;
  runs: Iteration[];
}

export interface ScaleStudy extends StudyBase {
  kind: 'scale';
  weak: boolean;
  repeat: number;
  slots: number;
  points: ScalePoint[];
  notes: string[];
}

export type Study = RepeatStudy | ScaleStudy;

/** Per iteration of a repeat study (by number): the ranks whose log files are still kept (null: the launcher's). */
export type KeptLogs = Record<number, (number | null)[]>;

/** Resolves the allocation once, hands the iterations a fixed one, releases it at the end. */
async function onOneAllocation<T>(opts: StudyOptions, body: (alloc: Allocation, fixed: SessionOptions['allocation']) => Promise<T>): Promise<T> {
  let resolved: ResolvedAllocation;
  try {
    resolved = await opts.allocation.resolve(opts.signal);
  } catch (err) {
    throw new StudyError(opts.signal?.aborted ? 'cancelled' : `allocation ${opts.allocation.label}: ${(err as Error).message}`);
  }
  const fixed = { label: opts.allocation.label, resolve: async () => ({ allocation: resolved.allocation, spec: resolved.spec }) };
  try {
    return await body(resolved.allocation, fixed);
  } finally {
    await resolved.release?.().catch(err => opts.progress?.(`could not release ${allocationLabel(resolved.allocation)}: ${(err as Error).message}`));
  }
}

/** One launch of `spec`: its result, body and wall time. */
async function iterate(spec: TestSpec, opts: StudyOptions, fixed: SessionOptions['allocation'], label: IterationLabel, ranks?: number) {
  const events = opts.iterationEvents?.(label) ?? {};
  let paths: ProjectPaths | undefined;
  const started = performance.now();
  const session = await runSession([spec], {
    root: opts.root,
    settings: opts.settings,
    allocation: fixed,
    signal: opts.signal,
    overrides: { ...(ranks !== undefined ? { ranks } : {}), ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}) },
    events: {
      ...events,
      placed: async (placement, placed) => {
        paths = placed;
        await events.placed?.(placement, placed);
      },
    },
  });
  const wallMs = performance.now() - started;
  const result = session.results[0];
  const iteration: Iteration = {
    iteration: label.iteration,
    state: result.state,
    kind: iterationKind(result),
    durationMs: result.durationMs,
    wallMs,
    messages: result.state === 'passed' ? [] : result.messages,
    faults: (result.faults ?? []).map(fault => (paths ? projectStack(fault, paths) : fault)),
  };
  await events.done?.(result, iteration);
  return { result, iteration };
}

/**
 * A fault whose stack names the project's files relative to it, as results do: a study is kept and
 * reopened later, maybe from a machine where the run root (a remote root, a node's path) means nothing.
 */
function projectStack(fault: Fault, paths: ProjectPaths): Fault {
  return { ...fault, stack: fault.stack.map(frame => ({ ...frame, file: paths.workspaceFile(frame.file) ?? frame.file })) };
}

export interface RepeatRequest {
  count: number;
  untilFail: boolean;
  /** Rank count for a test whose marker leaves it open (`--ranks`). */
  ranks?: number;
}

/** Runs `spec` `count` times (or until it fails, with `untilFail`), each a fresh launch. */
export async function runRepeat(spec: TestSpec, req: RepeatRequest, opts: StudyOptions): Promise<RepeatStudy> {
  if (!Number.isSafeInteger(req.count) || req.count < 1) throw new StudyError(`the iteration count is a whole number ≥ 1, got ${req.count}`);
  const startedAt = new Date().toISOString();
  return onOneAllocation(opts, async (alloc, fixed) => {
    const runs: Iteration[] = [];
    let ranks = req.ranks ?? spec.ranks ?? opts.settings.mpiDefaultRanks;
    for (let k = 1; k <= req.count; k++) {
      if (opts.signal?.aborted) break;
      const { result, iteration } = await iterate(spec, opts, fixed, { iteration: k, planned: req.count }, req.ranks);
      // A cancelled launch measured nothing: it is not an iteration of the study.
      if (opts.signal?.aborted) break;
      ranks = result.ranks || ranks;
      runs.push(iteration);
      opts.progress?.(repeatProgress(runs, req.count));
      if (req.untilFail && (iteration.state === 'failed' || iteration.state === 'errored')) break;
      if (iteration.state === 'skipped') {
        opts.progress?.(`${spec.id} was skipped: ${result.messages[0]?.text ?? 'no reason given'}; the study stops`);
        break;
      }
    }
    return {
      version: 1, kind: 'repeat', id: spec.id, startedAt, allocation: allocationLabel(alloc), cancelled: opts.signal?.aborted ?? false,
      ranks, requested: req.count, untilFail: req.untilFail, ...summarizeRepeat(runs), runs,
    };
  });
}

/** Whether a test's rank count can be chosen by the run, and from which count on. */
export function openRanks(spec: TestSpec): { open: true; min: number } | { open: false; why: string } {
  switch (spec.framework) {
    case 'pytest':
      return { open: false, why: 'a plain pytest test runs on one rank' };
    case 'pytest_parallel':
      return spec.ranks === null ? { open: true, min: 1 } : { open: false, why: `pytest_parallel's parallel(${spec.ranks}) fixes it to ${spec.ranks} ranks` };
    case 'pytest-mpi':
      // min_size is a minimum: fewer ranks would run at min_size anyway (pytest-mpi skips below it).
      return { open: true, min: spec.ranks ?? 1 };
    case 'unittest':
      return spec.launcher ? { open: true, min: 1 } : { open: false, why: 'not under a launcher template' };
  }
}

export interface ScaleRequest {
  /** Rank counts asked for; absent: 1, 2, 4, … up to the allocation's slots. */
  ranks?: number[];
  repeat: number;
  weak: boolean;
}

/**
 * What a scale study of `specs` runs: one spec whose count is open (each count through `--ranks`), or
 * the ids of one test at several fixed counts (pytest_parallel `parallel([1, 2, 4])`), one per count.
 */
export function scalePlan(specs: TestSpec[], requested: number[] | undefined): { spec: TestSpec; override: boolean; min: number } | { perCount: Map<number, TestSpec> } {
  if (specs.length === 1) {
    const open = openRanks(specs[0]);
    if (!open.open) throw new StudyError(`${specs[0].id} has a fixed rank count (${open.why}); scale needs a test whose count the marker leaves open (pytest-mpi min_size, a dynamic count, a launcher file) or a test with one id per count (parallel([1, 2, 4]))`);
    const low = requested?.filter(n => n < open.min) ?? [];
    if (low.length) throw new StudyError(`${specs[0].id} needs at least ${open.min} ranks (pytest-mpi min_size); remove ${low.join(', ')} from --ranks`);
    return { spec: specs[0], override: true, min: open.min };
  }
  const groups = new Set(specs.map(s => s.groupId ?? s.id));
  if (groups.size !== 1 || specs.some(s => s.ranks === null)) {
    throw new StudyError(`a study runs one test; ${specs.length} tests match (${specs.slice(0, 3).map(s => s.id).join(', ')}${specs.length > 3 ? ', …' : ''})`);
  }
  const perCount = new Map<number, TestSpec>();
  for (const s of specs) if (s.ranks !== null && !perCount.has(s.ranks)) perCount.set(s.ranks, s);
  if (requested) {
    const missing = requested.filter(n => !perCount.has(n));
    if (missing.length) throw new StudyError(`${[...groups][0]} has ids for ${[...perCount.keys()].join(', ')} ranks only, not ${missing.join(', ')}`);
    for (const n of [...perCount.keys()]) if (!requested.includes(n)) perCount.delete(n);
  }
  return { perCount };
}

/** Runs the test `repeat` times at each rank count and builds the scaling table. */
export async function runScale(specs: TestSpec[], req: ScaleRequest, opts: StudyOptions): Promise<ScaleStudy> {
  if (!Number.isSafeInteger(req.repeat) || req.repeat < 1) throw new StudyError(`--repeat is a whole number ≥ 1, got ${req.repeat}`);
  const plan = scalePlan(specs, req.ranks);
  const startedAt = new Date().toISOString();
  return onOneAllocation(opts, async (alloc, fixed) => {
    const slots = allocationSlots(alloc);
    const notes: string[] = [];
    let counts: number[];
    if ('perCount' in plan) counts = [...plan.perCount.keys()].sort((a, b) => a - b);
    else counts = req.ranks ?? defaultRankCounts(slots, plan.min);
    if (!counts.length) throw new StudyError(`no rank count to run: the allocation has ${slots} slots and the test needs at least ${'min' in plan ? plan.min : 1}`);
    const canOversubscribe = alloc.kind === 'local' && opts.settings.local.oversubscribe;
    const beyond = counts.filter(n => n > slots);
    if (beyond.length && !canOversubscribe) {
      throw new StudyError(`${beyond.join(', ')} ranks exceed the ${slots} slots of ${allocationLabel(alloc)}; ask for a larger allocation or fewer ranks`);
    }
    if (beyond.length) notes.push(`${beyond.join(', ')} ranks oversubscribe the ${slots} slots of this machine: their times share cores and do not measure scaling`);
    for (const note of notes) opts.progress?.(note);
    const samples = new Map<number, ScaleSample[]>();
    const planned = counts.length * req.repeat;
    let done = 0;
    outer: for (const n of counts) {
      const spec = 'perCount' in plan ? plan.perCount.get(n)! : plan.spec;
      for (let k = 1; k <= req.repeat; k++) {
        if (opts.signal?.aborted) break outer;
        const { result, iteration } = await iterate(spec, opts, fixed, { iteration: ++done, planned, ranks: n }, 'perCount' in plan ? undefined : n);
        if (opts.signal?.aborted) break outer;
        if (result.ranks && result.ranks !== n) notes.push(`${n} ranks: the test ran on ${result.ranks}`);
        const list = samples.get(n) ?? [];
        list.push({ bodyMs: iteration.durationMs, wallMs: iteration.wallMs, state: iteration.state });
        samples.set(n, list);
        opts.progress?.(`${done}/${planned} · ${n} ranks${iteration.state === 'passed' ? '' : ` · ${iteration.kind}`}`);
      }
    }
    return {
      version: 1, kind: 'scale', id: 'perCount' in plan ? (specs[0].groupId ?? specs[0].id) : plan.spec.id, startedAt, allocation: allocationLabel(alloc),
      cancelled: opts.signal?.aborted ?? false, weak: req.weak, repeat: req.repeat, slots, points: scaleTable(samples, req.weak), notes: [...new Set(notes)],
    };
  });
}
