import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { assetDir } from '../assets';
import { AllocationNodes } from '../allocation/nodes';
import { runCoresFolder, withCoreLimit, type CoreSettings } from '../faults/cores';
import { StepFaults } from '../faults/stepFaults';
import { describeSweep, sweepRun, type SweepResult } from '../faults/sweep';
import type { Allocation } from '../allocation/allocation';
import { allocationSlots } from '../allocation/allocation';
import { placeStep, planRun, selectByFiles, splitStep, type LaunchPlan, type LaunchStep, type PlanOptions } from '../launch/plan';
import { GATE_VARIABLE, LaunchGates, type LaunchGate } from './gate';
import { balance, LAUNCH_OVERHEAD_MS, order, partCount, startable, UNKNOWN_TEST_MS, type Job, type Placed, type ScheduleLimits, type SlotPool } from './schedule';
import { aggregate, type ExpectedTest } from '../ranks/aggregate';
import { RankStreams, type RankLine } from '../ranks/demux';
import { parseLauncherFailure } from '../ranks/launcherFailure';
import { LauncherBanners } from '../ranks/launcherBanners';
import { rankProblem } from '../ranks/rankProblems';
import { ProjectPaths } from '../projectPaths';
import type { AgentRecord, TestResult, TestSpec } from '../types';
import type { ExitStatus } from '../transport/host';
import { formatRankSelection, type DebugEndpoint, type DebugRequest } from '../debug/request';
import { DebugLaunch } from '../debug/launch';

export interface RunListener {
  started?(id: string): void;
  output?(line: RankLine & { step: number }): void;
  /** Every agent record as it arrives (hello carries the rank's host and pid). */
  record?(r: AgentRecord & { step: number }): void;
  result?(r: TestResult): void;
  /**
   * What to show of the launcher's own output (mpirun's lines, rank null): its multi-line banners
   * condensed to one line per event. `output` still gets every line, for the rank logs.
   */
  launcher?(text: string, step: number): void;
  note?(text: string): void;
  /** What the end-of-run sweep found and killed (processes carrying the run id), once per machine swept. */
  cleanup?(r: SweepResult): void;
  /**
   * A Debug run: a debugged rank listens. host/port (loopback of this machine, a relay core owns until
   * the launch ends) take one DAP client; core watches its stopped/continued events to suspend the
   * per-test timeout and silence watchdog while the rank is paused.
   */
  debugEndpoint?(endpoint: DebugEndpoint): void;
  /** Every rank of that launch is gone and its relays closed. */
  debugLaunchEnded?(launchId: string): void;
}

export interface RunOptions {
  /** The project's folder where the ranks run (their cwd, DISTEST_ROOT). */
  root: string;
  /** Maps files the ranks name to the local folder (source lines of stacks); the root alone when absent. */
  paths?: ProjectPaths;
  alloc: Allocation;
  /** Authenticates this run's records (the ranks' DISTEST_TOKEN); 32 random hex characters when absent. */
  token?: string;
  /**
   * Marks this run's processes (DISTEST_RUN_ID, which the sweep kills by); random when absent. Visible to
   * test code, so never the token: a test that knew the token could forge results.
   */
  runId?: string;
  /**
   * Per test (`@pytest.mark.timeout(S)` overrides it), and for a launch's start-up and collection. On
   * expiry every rank's stack is captured before anything is killed.
   */
  timeoutMs?: number;
  /** All ranks alive but no output and no record for this long counts as a hang; 0/absent: off. */
  silenceMs?: number;
  /** Core files of crashed ranks (`distest.cores.*`). */
  cores: CoreSettings;
  /** On a hang, also gdb's native stack of one rank per group (`distest.hangs.nativeStacks`; off by default: seconds per attach). */
  nativeStacks?: boolean;
  ranksOverride?: number;
  /** Rank count for dynamic counts without an override (`distest.mpiDefaultRanks`). */
  defaultRanks: number;
  extraPytestArgs?: string[];
  /** What pytest reads on its own (the inifile's addopts, PYTEST_ADDOPTS): plugins loaded there are not loaded again. */
  pytestConfigArgs?: string[];
  /** Where agent/ lives; found next to the bundle when absent. */
  assetDir?: string;
  signal?: AbortSignal;
  listener?: RunListener;
  /** A Debug run: the selected ranks start under debugpy (see core/debug). */
  debug?: DebugRequest;
  /**
   * Takes the end-of-run sweep off the critical path: runTests then returns as soon as every test has
   * its result and hands over the sweep (settled once every node is swept and reported through
   * `note`/`cleanup`; it never rejects). Without it, runTests returns after the sweep.
   */
  sweepStarted?(sweep: Promise<void>): void;
  /**
   * Launches at once on disjoint slots (`distest.parallelLaunches`, `--jobs`): `auto` as many as fit,
   * 1 one after another (the default here; Slurm, PBS and Debug runs always run one at a time).
   */
  parallelLaunches?: number | 'auto';
  /** Earlier runs' per-test durations (core/run/durations.ts): the longest-first order and the splits. */
  durations?: ReadonlyMap<string, number>;
  /** Fresh launches for the tests a crash or hang kept from starting, at most this many per run; MAX_RELAUNCHES when absent. */
  maxRelaunches?: number;
}

/**
 * How much earlier than the longest start-up seen a launch starts ahead of its slots: a launch starting
 * beside busy ranks takes longer than one that started alone, and one that is ready early only waits.
 */
const START_UP_MARGIN = 1.5;
/** The hold on a launch's clocks while it waits at its gate for slots another launch still holds. */
const WAITING_FOR_SLOTS = 'waiting for slots';
/** Lines of launcher text (mpirun's own messages) kept per step for the aggregate's diagnosis. */
const MAX_LAUNCHER_LINES = 400;
/**
 * Fresh launches for the tests a crash or hang kept from starting, per run, unless `maxRelaunches` says
 * otherwise. Each one must leave fewer tests unresolved than the launch before it, so this only bounds
 * runs with very many crashing tests.
 */
const MAX_RELAUNCHES = 50;

/**
 * Runs the tests, one launch step at a time, and returns exactly one result per distinct spec id (in
 * spec order), whatever goes wrong: plan problems, missing programs, crashes, cancel and timeout all
 * become skipped/errored results. Never throws for bad input. The end-of-run sweep comes after the
 * results (see `sweepStarted`).
 */
export async function runTests(specs: TestSpec[], opts: RunOptions): Promise<TestResult[]> {
  const run = new Run(specs, opts);
  try {
    await run.execute();
  } catch (err) {
    run.erroredAll(`internal error: ${(err as Error).stack ?? String(err)}`);
  }
  const results = run.finalResults();
  const sweep = run.sweep().catch(err => opts.listener?.note?.(`cleanup sweep failed: ${(err as Error).message}`));
  if (opts.sweepStarted) opts.sweepStarted(sweep);
  else await sweep;
  return results;
}

interface Queued extends Job { step: LaunchStep }

/**
 * A launch under way: where it was placed, its number in the run, its outcome to come, how far it is,
 * and its gate when it started ahead of its slots.
 */
interface RunningLaunch {
  placed: Placed<Queued>;
  index: number;
  done: Promise<{ key: number; outcome: StepRun }>;
  progress: LaunchProgress;
  gate?: LaunchGate;
}

/**
 * `ending`: the launch's tests without a result yet are less work than a launch's start-up, so the
 * launch that takes its slots next may start ahead (gate.ts).
 */
interface LaunchProgress { ending: boolean }

/**
 * How a launch ended on distest's side: cancelled, killed at a test's time limit (`timeoutMs`, the limit
 * that expired), or ended because a rank could not be debugged (`debugFailure`).
 */
interface LaunchEnding { cancelled: boolean; timedOut: boolean; timeoutMs?: number; debugFailure?: string }

/** What a launch's streams said, as its outcome needs it; `end` flushes a banner still being gathered. */
interface LaunchLog { records: AgentRecord[]; startedOn: Map<string, Set<number>>; launcherText(): string; end(): void }

interface StepRun {
  results: TestResult[];
  /** Tests the launch ended before: no outcome of their own, nor of their file or class (a collection error). */
  notStarted: string[];
  crash?: string;
}

class Run {
  private readonly results = new Map<string, TestResult>();
  private readonly specsById = new Map<string, TestSpec>();
  private readonly listener: RunListener;
  private readonly token: string;
  private readonly runId: string;
  private stepCount = 0;
  /** Keys of the launches queued so far. */
  private queued = 0;
  private relaunches = 0;
  private readonly coreBudget: { left: number; max: number };
  /** Where this run's cores go, under the ranks' `.distest/cores/`. */
  private readonly coresFolder: string;
  private readonly nodes: AllocationNodes;
  /** Hosts ranks said hello from, so the sweep reaches them even where the allocation lists no nodes. */
  private readonly rankHosts = new Set<string>();
  /** A Debug run whose ranks cannot be debugged (no debugpy): the later launches would fail the same way. */
  private debugFailure?: string;
  /** The longest start-up (launcher started → ranks' hello) of this run's launches so far. */
  private startupMs?: number;
  /** Wakes the run loop when a running launch starts ending (see RunningLaunch). */
  private wake = () => {};
  private readonly gates = new LaunchGates();

  constructor(
    specs: TestSpec[],
    private readonly opts: RunOptions,
  ) {
    for (const s of specs) if (!this.specsById.has(s.id)) this.specsById.set(s.id, s);
    this.listener = opts.listener ?? {};
    this.token = opts.token ?? randomBytes(16).toString('hex');
    this.runId = opts.runId ?? randomBytes(16).toString('hex');
    this.coreBudget = { left: opts.cores.maxPerRun, max: opts.cores.maxPerRun };
    this.coresFolder = runCoresFolder(this.runId);
    this.nodes = new AllocationNodes(opts.alloc);
  }

  /** Kills whatever of the run outlived its launches (detached daemons, reparented children) on every node. */
  async sweep(): Promise<void> {
    if (this.stepCount === 0) return;
    const { alloc } = this.opts;
    const { nodes, problems } = await this.nodes.everyNode(this.rankHosts);
    for (const problem of problems) this.listener.note?.(problem);
    // The nodes before the launching host: where it sees their processes too (nodes as containers of
    // one kernel), a stray is still reported on the node it ran on.
    const results = await Promise.all(nodes.map(node => sweepRun(node, alloc.python, this.runId)));
    results.push(await sweepRun(alloc.host, alloc.python, this.runId));
    for (const result of results) {
      const text = describeSweep(result);
      if (text) this.listener.note?.(text);
      this.listener.cleanup?.(result);
    }
  }

  async execute(): Promise<void> {
    const planOpts = this.planOptions();
    if (!planOpts) return;
    const { alloc } = this.opts;
    const pythonProblem = await this.pythonProblem();
    const limits = this.scheduleLimits();
    planOpts.concurrent = limits.maxLaunches > 1;
    // The launches waiting for slots, longest first, and those running. A launch that ends early queues
    // fresh launches for the tests it kept from starting (isolation, in `afterLaunch`); nothing else waits on it.
    let queue: Queued[] = [];
    const enqueue = (plan: LaunchPlan) => {
      for (const p of plan.skipped) this.emit(stateResult(p.id, 'skipped', p.reason));
      for (const p of plan.errored) this.emit(stateResult(p.id, 'errored', p.reason));
      for (const step of this.packed(plan.steps, limits)) {
        if (pythonProblem && step.argv.includes(alloc.python)) {
          for (const t of step.tests) this.emit(stateResult(t.id, 'errored', pythonProblem, t.ranks));
          continue;
        }
        queue.push({ key: this.queued++, ranks: step.ranks, estimateMs: this.estimate(step), step });
      }
      queue = order(queue, limits);
    };
    enqueue(planRun([...this.specsById.values()], alloc, planOpts));
    const running = new Map<number, RunningLaunch>();
    const start = (placed: Placed<Queued>, gate?: LaunchGate) => {
      queue = queue.filter(q => q !== placed.job);
      running.set(placed.job.key, this.startLaunch(placed, [...running.values()], gate));
    };
    try {
      while (queue.length || running.size) {
        const stop = this.opts.signal?.aborted ? 'cancelled' : this.debugFailure;
        if (stop !== undefined) {
          for (const { step } of queue) for (const t of step.tests) this.emit(stateResult(t.id, 'errored', stop, t.ranks));
          queue = [];
        }
        for (const placed of startable(queue, [...running.values()].map(r => r.placed), limits)) start(placed);
        const ending = [...running.values()].filter(r => r.progress.ending);
        if (ending.length && this.startsAhead(limits)) {
          const staying = [...running.values()].filter(r => !r.progress.ending).map(r => r.placed);
          const ahead = startable(queue.filter(q => q.step.perTestArgs), staying, limits);
          for (const placed of ahead) start(placed, this.gates.create(ending.map(r => r.placed.job.key)));
        }
        if (!running.size) break;
        const woken = new Promise<undefined>(resolve => { this.wake = () => resolve(undefined); });
        const next = await Promise.race([...[...running.values()].map(r => r.done), woken]);
        if (!next) continue;
        const finished = running.get(next.key) as RunningLaunch;
        running.delete(next.key);
        this.gates.ended(next.key);
        const retry = this.afterLaunch(finished, next.outcome);
        if (!retry.length) continue;
        if (!this.opts.signal?.aborted) enqueue(planRun(retry, alloc, planOpts));
        else for (const s of retry) this.emit(stateResult(s.id, 'errored', 'cancelled'));
      }
    } finally {
      this.gates.dispose();
    }
  }

  /**
   * Whether launches start ahead of their slots (gate.ts): packing a local allocation, for pytest
   * launches (their agent waits at the gate).
   */
  private startsAhead(limits: ScheduleLimits): boolean {
    return limits.maxLaunches > 1 && this.opts.alloc.kind === 'local';
  }

  /** What every launch of the run is planned with; undefined (every test errored) when it cannot be had. */
  private planOptions(): PlanOptions | undefined {
    try {
      return {
        root: this.opts.root,
        assetDir: this.opts.assetDir ?? assetDir(),
        token: this.token,
        runId: this.runId,
        ranksOverride: this.opts.ranksOverride,
        defaultRanks: this.opts.defaultRanks,
        extraPytestArgs: this.opts.extraPytestArgs,
        pytestConfigArgs: this.opts.pytestConfigArgs,
        inheritedPythonPath: process.env.PYTHONPATH,
        ...(this.opts.debug ? {
          extraEnv: { DISTEST_DEBUG_RANKS: formatRankSelection(this.opts.debug.ranks), DISTEST_DEBUG_WAIT: String(this.opts.debug.waitSeconds) },
        } : {}),
      };
    } catch (err) {
      this.erroredAll((err as Error).message);
      return undefined;
    }
  }

  /** Why the allocation's python cannot run the ranks' agent (it is not on the launching host), else null. */
  private async pythonProblem(): Promise<string | null> {
    const { alloc } = this.opts;
    if (await alloc.host.which(alloc.python)) return null;
    return `python interpreter ${alloc.python} not found on ${alloc.host.name}; set distest.pythonPath (CLI: --python) to a python with pytest and mpi4py`;
  }

  /**
   * Starts a placed launch on its slots, saying which launches it runs beside; with a gate, ahead of
   * them (its ranks start up now and run their tests once the launches holding the slots have ended).
   */
  private startLaunch(placed: Placed<Queued>, beside: RunningLaunch[], gate?: LaunchGate): RunningLaunch {
    const placedStep = placed.alone ? placed.job.step : placeStep(placed.job.step, placed.slots);
    // A host list's remote ranks get only the variables the plan names with -x; PBS's is untested.
    const { kind } = this.opts.alloc;
    const selected = kind === 'local' || kind === 'slurm' ? selectByFiles(placedStep) : placedStep;
    const step = gate ? { ...selected, env: { ...selected.env, [GATE_VARIABLE]: gate.path } } : selected;
    const index = this.stepCount++;
    const name = (r: RunningLaunch) => `launch ${r.index + 1} (${launchTests(r.placed.job.step)})`;
    const waitsFor = beside.filter(r => gate?.waitsOn.has(r.placed.job.key));
    const alongside = beside.filter(r => !waitsFor.includes(r));
    const where = this.opts.alloc.kind === 'hosts' ? ` on ${step.hostList}` : '';
    const said = [
      alongside.length ? `runs beside ${alongside.map(name).join(', ')}` : '',
      waitsFor.length ? `starts up while ${waitsFor.map(name).join(', ')} end${waitsFor.length === 1 ? 's' : ''}, and runs its tests after` : '',
    ].filter(Boolean);
    if (said.length) this.listener.note?.(`launch ${index + 1} (${launchTests(step)})${where} ${said.join('; ')}`);
    const { key } = placed.job;
    const progress: LaunchProgress = { ending: false };
    const startedAt = Date.now();
    let greeted = false;
    // Every rank's result of every test: the slots are free for the launches waiting on them, though the
    // ranks still have to finish (pytest's session end, MPI_Finalize).
    const ranksDone = new Map(step.tests.map(t => [t.id, { ranks: new Set<number>(), of: t.ranks }]));
    let testsDone = 0;
    // When the launch starts ending: its tests' expected time left (a test that started counts whole,
    // from its start) less a launch's start-up; reckoned again as each test starts and ends.
    let endingTimer: NodeJS.Timeout | undefined;
    const startsEnding = () => {
      progress.ending = true;
      this.wake();
    };
    const reckon = () => {
      if (progress.ending || (gate && !gate.isOpen)) return;
      clearTimeout(endingTimer);
      let leftMs = 0;
      for (const [id, done] of ranksDone) if (!done.ranks.size) leftMs += this.testMs(id);
      const inMs = leftMs - (this.startupMs ?? LAUNCH_OVERHEAD_MS) * START_UP_MARGIN;
      if (inMs <= 0) startsEnding();
      else endingTimer = setTimeout(startsEnding, inMs);
    };
    const follow = (r: AgentRecord) => {
      if (r.kind === 'hello' && !greeted && !gate) {
        greeted = true;
        this.startupMs = Math.max(this.startupMs ?? 0, Date.now() - startedAt);
      }
      if (r.kind === 'start' && r.rank === 0) reckon();
      if (r.kind !== 'result') return;
      const done = ranksDone.get(r.test);
      if (!done || done.ranks.has(r.rank)) return;
      done.ranks.add(r.rank);
      if (done.ranks.size === done.of && ++testsDone === ranksDone.size) this.gates.ended(key);
      // A test's first result: it no longer counts as work left.
      if (done.ranks.size === 1) reckon();
    };
    const done = this.runStep(step, index, follow, gate)
      .catch((err): StepRun => ({ results: step.tests.map(t => stateResult(t.id, 'errored', `internal error: ${(err as Error).stack ?? String(err)}`, t.ranks)), notStarted: [] }))
      .then(outcome => {
        clearTimeout(endingTimer);
        return { key, outcome };
      });
    return { placed, index, done, progress, gate };
  }

  /**
   * A finished launch's results, and the tests to rerun in a fresh launch. Isolation: a rank that dies or
   * hangs takes the whole launch down, so tests queued behind the culprit never ran. They get a fresh
   * launch of their own, but only while launches make progress (each resolves a test), and at most
   * maxRelaunches times per run.
   */
  private afterLaunch(finished: RunningLaunch, outcome: StepRun): TestSpec[] {
    const { step } = finished.placed.job;
    const maxRelaunches = this.opts.maxRelaunches ?? MAX_RELAUNCHES;
    const unstarted = outcome.notStarted.length;
    const ranAny = unstarted < step.tests.length;
    const endedEarly = outcome.crash !== undefined && unstarted > 0 && ranAny;
    const isolate = endedEarly && this.relaunches < maxRelaunches;
    for (const r of outcome.results) if (!(isolate && outcome.notStarted.includes(r.id))) this.emit(r);
    if (!isolate) {
      if (endedEarly) {
        this.listener.note?.(`launch ${finished.index + 1} ended early (${outcome.crash}); not relaunching its ${unstarted} unstarted test${unstarted === 1 ? '' : 's'}: this run already relaunched ${maxRelaunches} times`);
      }
      return [];
    }
    this.relaunches++;
    this.listener.note?.(
      `launch ${finished.index + 1} ended early (${outcome.crash}) before ${unstarted} of its tests started; ` +
        `rerunning ${unstarted === 1 ? 'it' : 'them'} in a fresh launch`,
    );
    return outcome.notStarted.map(id => this.specsById.get(id)).filter((s): s is TestSpec => s !== undefined);
  }

  /**
   * How many launches may run at once, on which slots. A Slurm job's slots are its tasks: its launches
   * are job steps, which Slurm spreads over the job's nodes. A PBS job runs its launches one after
   * another (PALS placement is untested here), and so does a Debug run (one launch's ranks wait for their
   * debugger clients).
   */
  private scheduleLimits(): ScheduleLimits {
    const { alloc } = this.opts;
    const pools: SlotPool[] = alloc.kind === 'hosts'
      ? alloc.hosts.map(h => ({ name: h.name, slots: h.slots }))
      : [{ name: alloc.kind === 'slurm' ? `job ${alloc.jobId}` : alloc.host.name, slots: allocationSlots(alloc) }];
    const asked = this.opts.parallelLaunches ?? 1;
    const sequential = alloc.kind === 'pbs' || this.opts.debug !== undefined;
    const maxLaunches = sequential ? 1 : asked === 'auto' ? Math.max(1, allocationSlots(alloc)) : Math.max(1, Math.floor(asked));
    return { pools, maxLaunches };
  }

  /** A test's expected time: its last recorded duration, else a guess. */
  private testMs(id: string): number {
    return this.opts.durations?.get(id) ?? UNKNOWN_TEST_MS;
  }

  private estimate(step: LaunchStep): number {
    return LAUNCH_OVERHEAD_MS + step.tests.reduce((ms, t) => ms + this.testMs(t.id), 0);
  }

  /** The plan's steps, a step split into launches that run side by side where its tests' recorded time pays for the extra start-up. */
  private packed(steps: LaunchStep[], limits: ScheduleLimits): LaunchStep[] {
    return steps.flatMap(step => {
      if (!step.perTestArgs) return [step];
      const parts = partCount(step.ranks, step.tests.reduce((ms, t) => ms + this.testMs(t.id), 0), step.tests.length, limits);
      if (parts <= 1) return [step];
      return splitStep(step, balance(step.tests, t => this.testMs(t.id), parts).map(part => part.map(t => t.id)));
    });
  }

  private async runStep(step: LaunchStep, index: number, follow: (r: AgentRecord) => void, gate?: LaunchGate): Promise<StepRun> {
    const { alloc, signal } = this.opts;
    const faults = this.stepFaults(step);
    // Waiting for the slots is not the launch's start-up taking long: no clock runs until the gate opens.
    if (gate && !gate.isOpen) {
      faults.hold(WAITING_FOR_SLOTS);
      void gate.opened.then(() => faults.release(WAITING_FOR_SLOTS));
    }
    if (step.note) this.listener.note?.(`launch ${index + 1}: ${step.note}`);
    const streams = new RankStreams({
      token: this.token,
      tagStyle: step.tagStyle,
      // Without a launcher there is one rank, and everything it prints is rank 0's.
      ...(step.tagStyle === 'none' && step.ranks === 1 ? { rank: 0 } : {}),
    });
    const ending: LaunchEnding = { cancelled: false, timedOut: false, timeoutMs: this.opts.timeoutMs };
    // A Debug run: the ranks' debugger endpoints, relayed here; a rank that cannot be debugged ends the launch.
    let failLaunch = (reason: string) => { ending.debugFailure ??= reason; };
    const debug = this.opts.debug ? new DebugLaunch({
      launchId: `${this.runId.slice(0, 8)}-${index + 1}`,
      testIds: step.tests.map(t => t.id),
      request: this.opts.debug,
      alloc,
      nodes: this.nodes,
      paths: this.opts.paths ?? new ProjectPaths(this.opts.root),
      env: { DISTEST_RUN_ID: this.runId },
      endpoint: e => this.listener.debugEndpoint?.(e),
      ended: id => this.listener.debugLaunchEnded?.(id),
      note: text => this.listener.note?.(text),
      hold: reason => faults.hold(reason),
      release: reason => faults.release(reason),
      fail: reason => failLaunch(reason),
    }) : undefined;
    const log = this.listen(streams, index, faults, debug, path.basename(step.argv[0] ?? 'launcher'), follow);

    // A launcher that does not exist is left unwrapped, so the spawn error names it rather than sh's 127.
    const wrap = this.opts.cores.enable && (await alloc.host.which(step.argv[0])) !== null;
    const proc = alloc.host.stream(wrap ? withCoreLimit(step.argv) : step.argv, { cwd: step.cwd, env: step.env });
    // Once the launch is under way: the lookups' own programs would otherwise start before it.
    this.nodes.prefetch();
    proc.onStdout(b => streams.write('stdout', b));
    proc.onStderr(b => streams.write('stderr', b));
    const onAbort = () => {
      ending.cancelled = true;
      void proc.kill();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    failLaunch = reason => {
      if (ending.debugFailure !== undefined) return;
      ending.debugFailure = reason;
      void proc.kill();
    };
    if (ending.debugFailure !== undefined) void proc.kill();
    // The stacks are captured before the kill: a dead rank has none to give.
    const stopWatch = faults.watch(expiry => {
      ending.timedOut = true;
      ending.timeoutMs = expiry.limitMs;
      void proc.kill();
    });
    const status = await proc.exited;
    stopWatch();
    signal?.removeEventListener('abort', onAbort);
    // Wait until nothing of the launch is left, so a cancelled run leaves no ranks behind.
    if (ending.cancelled || ending.timedOut || ending.debugFailure !== undefined) await proc.kill();
    await debug?.close();
    streams.end();
    log.end();
    if (ending.debugFailure !== undefined) this.debugFailure = ending.debugFailure;
    return this.settle(step, status, ending, log, faults);
  }

  /** The launch's fault watcher: hangs, crashes and cores of its ranks. */
  private stepFaults(step: LaunchStep): StepFaults {
    const { alloc, cores } = this.opts;
    return new StepFaults({
      nodes: this.nodes, runId: this.runId, python: alloc.python, paths: this.opts.paths ?? new ProjectPaths(this.opts.root), cwd: step.cwd, cores, coreBudget: this.coreBudget, coresFolder: this.coresFolder,
      defaultMs: this.opts.timeoutMs, silenceMs: this.opts.silenceMs, nativeStacks: this.opts.nativeStacks ?? false, singleRank: step.tagStyle === 'none' && step.ranks === 1,
      testLimitMs: id => { const s = this.specsById.get(id)?.timeoutSeconds; return s ? s * 1000 : undefined; },
    });
  }

  /** Follows a launch's streams: its records and lines to the faults, the debugger and the listener, kept for its outcome. */
  private listen(streams: RankStreams, index: number, faults: StepFaults, debug: DebugLaunch | undefined, launcher: string, follow: (r: AgentRecord) => void): LaunchLog {
    const records: AgentRecord[] = [];
    // Ranks that started each test: a test only some ranks reached is a victim of the one the others
    // are stuck or died in, so it counts as not started and is rerun by the isolation above.
    const startedOn = new Map<string, Set<number>>();
    const launcherLines: string[] = [];
    const banners = new LauncherBanners(launcher);
    const showLauncher = (texts: string[]) => { for (const text of texts) this.listener.launcher?.(text, index); };
    streams.onRecord(r => {
      faults.record(r);
      if (r.kind === 'hello') this.rankHosts.add(r.host);
      if (r.kind === 'debug') debug?.record(r);
      records.push(r);
      follow(r);
      this.listener.record?.({ ...r, step: index });
      if (r.kind !== 'start' && r.kind !== 'result') return;
      let ranks = startedOn.get(r.test);
      if (!ranks) {
        startedOn.set(r.test, (ranks = new Set()));
        this.listener.started?.(r.test);
      }
      ranks.add(r.rank);
    });
    streams.onLine(line => {
      faults.line(line);
      if (line.rank === null) {
        launcherLines.push(line.text);
        if (launcherLines.length > MAX_LAUNCHER_LINES) launcherLines.splice(0, launcherLines.length - MAX_LAUNCHER_LINES);
        showLauncher(banners.push(line.text));
      }
      this.listener.output?.({ ...line, step: index });
    });
    return { records, startedOn, launcherText: () => launcherLines.join('\n'), end: () => showLauncher(banners.end()) };
  }

  /** A finished launch's results, which of its tests never started, and why it ended early if it did. */
  private async settle(step: LaunchStep, status: ExitStatus, ending: LaunchEnding, log: LaunchLog, faults: StepFaults): Promise<StepRun> {
    const { records, startedOn } = log;
    const { cancelled, timedOut, timeoutMs } = ending;
    const launcherText = log.launcherText();
    const problems = this.rankProblems(step, records, startedOn, launcherText, faults);
    // A launch that never started has nothing for the aggregate to weigh: the reason is the whole story.
    const launchError = status.error ?? (cancelled ? undefined : ending.debugFailure);
    const aggregated = launchError
      ? step.tests.map(t => stateResult(t.id, 'errored', launchError, t.ranks))
      : aggregate(step.tests, records, {
          exitCode: status.code,
          signal: status.signal,
          cancelled,
          timedOut,
          ...(timeoutMs ? { timeoutMs } : {}),
          launcherText,
          rankProblems: problems.texts,
          python: this.opts.alloc.python,
        });
    const results = aggregated.map(r => {
      const why = problems.noSuchTest.get(r.id);
      return why ? stateResult(r.id, 'errored', why, r.ranks) : r;
    });
    if (!launchError) await faults.annotate(results, { signal: status.signal, launcherText, cancelled });
    const collected = new Set(records.flatMap(r => (r.kind === 'result' ? [r.test] : [])));
    // A count only the run knows runs as pytest's `test_x[4]`: started there, it started `test_x`.
    const parametrized = new Set([...startedOn.keys()].map(withoutParameters));
    const resolved = (t: ExpectedTest) =>
      (startedOn.get(t.id)?.size ?? 0) >= t.ranks || parametrized.has(t.id) || hasEnclosing(t.id, collected) || problems.resolves(t.id);
    const notStarted = step.tests.filter(t => !resolved(t)).map(t => t.id);
    const abnormal = !cancelled && !launchError && (timedOut || status.signal !== null || status.code !== 0);
    const crash = timedOut ? `timed out after ${Math.round((timeoutMs ?? 0) / 1000)} s` : status.signal ? `launcher killed by ${status.signal}` : `exit code ${status.code}`;
    return { results, notStarted, ...(abnormal ? { crash } : {}) };
  }

  /**
   * What stopped each rank that never started a test, read from its stderr (an import error, pytest's
   * usage error, a file missing on its node), with the rank's host and python; and which tests that
   * settles. A file missing on this machine is that file's outcome (the others get a fresh launch); on
   * a remote node it means the folder is not there, which no relaunch fixes.
   */
  private rankProblems(step: LaunchStep, records: AgentRecord[], startedOn: Map<string, Set<number>>, launcherText: string, faults: StepFaults) {
    const { alloc } = this.opts;
    const started = new Set([...startedOn.values()].flatMap(ranks => [...ranks]));
    const hellos = new Map(records.flatMap(r => (r.kind === 'hello' ? [[r.rank, r] as const] : [])));
    const failures = new Map(parseLauncherFailure(launcherText).map(f => [f.rank, f]));
    const texts = new Map<number, string>();
    const missingFiles = new Set<string>();
    const noSuchTest = new Map<string, string>();
    for (let rank = 0; rank < Math.max(step.ranks, 1); rank++) {
      if (started.has(rank)) continue;
      const problem = rankProblem(faults.stderrOf(rank));
      if (!problem) continue;
      const host = hellos.get(rank)?.host ?? failures.get(rank)?.host ?? (alloc.kind === 'local' ? os.hostname() : undefined);
      const where = host ? ` on ${host}` : '';
      if (problem.kind === 'error') {
        texts.set(rank, `${problem.line} (rank ${rank}${where}, python ${alloc.python})`);
        continue;
      }
      if (problem.kind === 'no-such-test') {
        // pytest runs nothing when one id of the launch is unknown: those ids are settled, the rest relaunched.
        for (const t of step.tests) {
          if (!problem.nodes.some(node => node === t.id || node.endsWith(`/${t.id}`))) continue;
          noSuchTest.set(t.id, `pytest (python ${alloc.python}${where}) collects no test ${t.id}: was it renamed or removed since ` +
            'the tests were listed, or does a plugin this python lacks make it? Refresh the test list');
        }
        continue;
      }
      missingFiles.add(problem.path);
      texts.set(rank, alloc.kind === 'local'
        ? `pytest found no ${problem.path} in ${step.cwd}: was it deleted or renamed since the tests were listed? Refresh the test list`
        : `pytest found no ${problem.path} in ${step.cwd}${where}: the project folder is not visible there. Put the project on a file ` +
          `system the nodes share with ${alloc.host.name} (for a login host, distest.remoteRoots names its path there, and ` +
          'distest.syncBeforeRun copies your changes to it)');
    }
    const resolves = (id: string) => {
      if (noSuchTest.has(id)) return true;
      const file = this.specsById.get(id)?.file;
      return missingFiles.size > 0 && (alloc.kind !== 'local' || (file !== undefined && missingFiles.has(file)));
    };
    return { texts, resolves, noSuchTest };
  }

  private emit(result: TestResult): void {
    if (this.results.has(result.id) || !this.specsById.has(result.id)) return;
    this.results.set(result.id, result);
    this.listener.result?.(result);
  }

  erroredAll(reason: string): void {
    for (const id of this.specsById.keys()) this.emit(stateResult(id, 'errored', reason));
  }

  finalResults(): TestResult[] {
    this.erroredAll('no result was produced for this test (distest bug: please report)');
    return [...this.specsById.keys()].map(id => this.results.get(id) as TestResult);
  }
}

/** Whether a record of an enclosing file or class (`tests/x.py`, `tests/x.py::TestY`) settles `id`. */
function hasEnclosing(id: string, recorded: Set<string>): boolean {
  for (let at = id.lastIndexOf('::'); at > 0; at = id.lastIndexOf('::', at - 1)) if (recorded.has(id.slice(0, at))) return true;
  return false;
}

/** `tests/x.py::test_y[4]` → `tests/x.py::test_y`. */
function withoutParameters(id: string): string {
  const bracket = id.indexOf('[', id.lastIndexOf('::') + 2);
  return bracket > 0 ? id.slice(0, bracket) : id;
}

function stateResult(id: string, state: 'skipped' | 'errored', text: string, ranks = 0): TestResult {
  return { id, ranks, state, durationMs: 0, failedRanks: [], messages: [{ rank: null, text }] };
}

/** A launch for a note: its rank count and tests (their names, the first three and how many more). */
function launchTests(step: LaunchStep): string {
  const names = step.tests.map(t => (t.id.includes('::') ? t.id.slice(t.id.indexOf('::') + 2) : t.id));
  const shown = names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  return `${step.ranks} rank${step.ranks === 1 ? '' : 's'}: ${shown}`;
}
