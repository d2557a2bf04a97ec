// One run, end to end, the same for every front-end: the allocation → the project placed on its
// launching host → the launches (runTests: plan, ranks, results, faults, sweep) → what was created for
// the run given back. The CLI and the Test Explorer only present its events and its results; a Debug,
// Repeat or Scale run is a session with other options, not another sequence.
import { allocationLabel, type Allocation } from '../allocation/allocation';
import type { ResolvedAllocation } from '../allocation/resolve';
import type { SweepResult } from '../faults/sweep';
import { locatePytestConfig } from '../discovery/configFiles';
import { shlexSplit } from '../discovery/pyText';
import { ProjectPaths } from '../projectPaths';
import type { DistestSettings } from '../settings';
import { parseRankSelection, type DebugRequest } from '../debug/request';
import type { TestResult, TestSpec } from '../types';
import { durationsFile, readDurations, recordDurations } from './durations';
import { placeProject, type Placement } from './placement';
import { runTests, type RunListener, type RunOptions } from './run';

/** What a front-end shows. `result` comes once for every test, also when none could run. */
export interface SessionEvents extends RunListener {
  /** What happens before the tests run (placement, sync, why no test could run) and after (release). */
  progress?(text: string): void;
  /** The allocation the tests run on; `created`: made for this run, released when it ends. */
  allocated?(allocation: Allocation, created: boolean): void;
  /** The project is in place on the launching host; the launches start once this settles. */
  placed?(placement: Placement, paths: ProjectPaths): void | Promise<void>;
  /**
   * Every test has its result (the same list the session returns), once per session and before the
   * end-of-run sweep and the release finish: a front-end reports here, not when the session returns.
   */
  finished?(results: TestResult[]): void;
}

/** What a front-end asks of a run beyond the settings (the CLI's flags). */
export interface SessionOverrides {
  /** Rank count for tests whose marker leaves it open (`--ranks`). */
  ranks?: number;
  /** Per-test limit instead of `distest.timeoutSeconds` (`--timeout`). */
  timeoutSeconds?: number;
  /** A Debug run (`--debug RANKS`, the editor's Debug profile): the ranks it selects start under debugpy. */
  debug?: DebugRequest;
  /** Launches at once instead of `distest.parallelLaunches` (`--jobs`). */
  jobs?: number;
}

export interface SessionOptions {
  /** The workspace folder on this machine: test ids and result paths are relative to it. */
  root: string;
  settings: DistestSettings;
  /**
   * Where the ranks go. Its `release` (a job created for this run) is called when the run ends;
   * an allocation the front-end keeps across runs comes without one. `label` names it in errors.
   */
  allocation: { label: string; resolve(signal: AbortSignal | undefined): Promise<ResolvedAllocation> };
  overrides?: SessionOverrides;
  signal?: AbortSignal;
  events?: SessionEvents;
}

export interface SessionResult {
  /** One per distinct spec id, in spec order, whatever went wrong. */
  results: TestResult[];
  /** The allocation the tests ran on; absent when none could be had. */
  allocation?: Allocation;
  /** What the end-of-run sweep found, per machine. */
  cleanup: SweepResult[];
}

/**
 * End-of-run sweeps still running, by launching host (every sweep ends there, after the nodes): a
 * later session's launches from that host wait for them, the results of the session that started
 * them never do.
 */
const sweeping = new Map<string, Promise<void>>();

/**
 * Runs `specs` as the options say. Never throws for bad input: every test ends with a state.
 * `events.finished` comes when the tests end; the returned promise settles after the sweep and release.
 */
export async function runSession(specs: TestSpec[], opts: SessionOptions): Promise<SessionResult> {
  const events = opts.events ?? {};
  const cleanup: SweepResult[] = [];
  const everyTest = (reason: string): SessionResult => {
    events.progress?.(reason);
    const results = erroredAll(specs, reason);
    for (const result of results) events.result?.(result);
    events.finished?.(results);
    return { results, cleanup };
  };
  let resolved: ResolvedAllocation;
  try {
    resolved = await opts.allocation.resolve(opts.signal);
  } catch (err) {
    return everyTest(opts.signal?.aborted ? 'cancelled' : `allocation ${opts.allocation.label}: ${(err as Error).message}`);
  }
  const alloc = resolved.allocation;
  let swept: Promise<void> | undefined;
  try {
    events.allocated?.(alloc, resolved.release !== undefined);
    let placement: Placement;
    try {
      placement = await placeProject(alloc, opts.root, opts.settings);
    } catch (err) {
      return { ...everyTest(`cannot place the project on ${alloc.host.name}: ${(err as Error).message}`), allocation: alloc };
    }
    if (placement.note) events.progress?.(placement.note);
    const paths = new ProjectPaths(opts.root, placement.root === opts.root ? undefined : placement.root);
    await events.placed?.(placement, paths);
    await sweeping.get(alloc.host.name);
    const durations = durationsFile(opts.root);
    const results = await runTests(specs, {
      ...runOptions(opts.settings, opts.overrides),
      durations: readDurations(durations),
      root: placement.root,
      paths,
      assetDir: placement.assetDir,
      pytestConfigArgs: pytestConfigArgs(opts.root),
      alloc,
      signal: opts.signal,
      listener: { ...events, cleanup: r => { cleanup.push(r); events.cleanup?.(r); } },
      sweepStarted: sweep => {
        swept = sweep;
        const key = alloc.host.name;
        const after = Promise.all([sweeping.get(key), sweep]).then(() => undefined);
        sweeping.set(key, after);
        void after.then(() => { if (sweeping.get(key) === after) sweeping.delete(key); });
      },
    });
    events.finished?.(results);
    recordDurations(durations, results);
    return { results, allocation: alloc, cleanup };
  } finally {
    // The session ends with its sweep: a job created for the run is released only once its nodes are swept.
    await swept;
    await resolved.release?.().catch(err => events.progress?.(`could not release ${allocationLabel(alloc)}: ${(err as Error).message}`));
  }
}

/** The run options the settings (and a front-end's overrides) give, mapped in this one place. */
export function runOptions(settings: DistestSettings, overrides: SessionOverrides = {}): Omit<RunOptions, 'root' | 'alloc'> {
  const timeoutSeconds = overrides.timeoutSeconds ?? settings.timeoutSeconds;
  return {
    ...(timeoutSeconds > 0 ? { timeoutMs: Math.round(timeoutSeconds * 1000) } : {}),
    ...(overrides.ranks !== undefined ? { ranksOverride: overrides.ranks } : {}),
    ...(overrides.debug ? { debug: overrides.debug } : {}),
    defaultRanks: settings.mpiDefaultRanks,
    parallelLaunches: overrides.jobs ?? settings.parallelLaunches,
    extraPytestArgs: settings.pytestArgs,
    silenceMs: settings.silenceSeconds * 1000,
    cores: { ...settings.cores, keepRuns: settings.logs.keepRuns },
    nativeStacks: settings.nativeStacks,
  };
}

/** The pytest arguments the ranks' pytest takes on its own: the inifile's addopts and PYTEST_ADDOPTS. */
function pytestConfigArgs(root: string): string[] {
  const split = (value: string | string[] | undefined) => {
    if (value === undefined) return [];
    if (Array.isArray(value)) return value;
    try {
      return shlexSplit(value);
    } catch {
      return [];
    }
  };
  return [...split(locatePytestConfig(root, [])?.options.get('addopts')?.value), ...split(process.env.PYTEST_ADDOPTS)];
}

function erroredAll(specs: TestSpec[], reason: string): TestResult[] {
  const seen = new Set<string>();
  return specs.filter(s => !seen.has(s.id) && seen.add(s.id)).map(s => ({ id: s.id, ranks: s.ranks ?? 0, state: 'errored', durationMs: 0, failedRanks: [], messages: [{ rank: null, text: reason }] }));
}

/** The Debug run the `distest.debug.*` settings ask for (the editor's Debug profile; the CLI's flags override). */
export function debugRequest(settings: DistestSettings, ranks?: 'all' | number[]): DebugRequest {
  return { ranks: ranks ?? parseRankSelection(settings.debug.ranks), waitSeconds: settings.debug.waitSeconds, breakOnFailure: settings.debug.breakOnFailure };
}
