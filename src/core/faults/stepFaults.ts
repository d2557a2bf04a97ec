// One launch's fault handling, as the run engine sees it: feed it the launch's lines and records, let
// it decide when the launch hangs (and capture every rank's stack before the kill), then let it add
// hang, crash and core evidence to the aggregated results.
import type { RankLine } from '../ranks/demux';
import { parseLauncherFailure } from '../ranks/launcherFailure';
import type { AgentRecord, Fault, ResultMessage, TestResult } from '../types';
import { captureHang, RankStderr, type Capture } from './capture';
import { collectCores, CORE_SIGNALS, type CoreSettings } from './cores';
import { findCrashes } from './crash';
import type { AllocationNodes } from '../allocation/nodes';
import { HangWatchdog, type Expiry } from './watchdog';
import type { ProjectPaths } from '../projectPaths';

const WATCH_INTERVAL_MS = 200;

export interface StepFaultOptions {
  /** The allocation's machines: every pid is acted on at the node its rank said hello from. */
  nodes: AllocationNodes;
  python: string;
  /** The run's DISTEST_RUN_ID: only processes carrying it are signalled. */
  runId: string;
  /** The project's files where the ranks run and here. */
  paths: ProjectPaths;
  /** The ranks' working folder (where relative core files land). */
  cwd: string;
  defaultMs?: number;
  silenceMs?: number;
  testLimitMs: (test: string) => number | undefined;
  cores: CoreSettings;
  /** Shared by the run's launches. */
  coreBudget: { left: number; max: number };
  /** The run's folder under the ranks' `.distest/cores/` (runCoresFolder). */
  coresFolder: string;
  singleRank: boolean;
  /** gdb's native stack per group of hung ranks (`distest.hangs.nativeStacks`). */
  nativeStacks: boolean;
}

export class StepFaults {
  private readonly watchdog: HangWatchdog;
  private readonly stderr = new RankStderr();
  private readonly startedAt = Date.now();
  private capture?: Promise<Capture>;
  private expiry?: Expiry;
  /** Epoch ms when the hang was noticed and when its diagnosis was ready, for measurements. */
  hangTimes?: { noticed: number; diagnosed?: number };

  constructor(private readonly opts: StepFaultOptions) {
    this.watchdog = new HangWatchdog({ defaultMs: opts.defaultMs, silenceMs: opts.silenceMs, testLimitMs: opts.testLimitMs });
  }

  line(line: RankLine): void {
    this.watchdog.activity();
    if (line.rank !== null && line.stream === 'stderr') this.stderr.push(line.rank, line.text);
  }

  record(r: AgentRecord): void {
    this.watchdog.record(r);
  }

  /** Suspends the launch's timeouts and silence watchdog while `reason` holds (a rank paused in a debugger). */
  hold(reason: string): void {
    this.watchdog.hold(reason);
  }

  release(reason: string): void {
    this.watchdog.release(reason);
  }

  /**
   * Checks the limits until `stop` is called; on the first one that runs out, captures the stacks and
   * then calls `kill` (the capture must see the ranks alive).
   */
  watch(kill: (expiry: Expiry) => void): () => void {
    const timer = setInterval(() => {
      const expiry = this.watchdog.check();
      if (!expiry) return;
      clearInterval(timer);
      this.expiry = expiry;
      this.hangTimes = { noticed: Date.now() };
      this.capture = this.captureStacks().finally(() => {
        if (this.hangTimes) this.hangTimes.diagnosed = Date.now();
        kill(expiry);
      });
    }, WATCH_INTERVAL_MS);
    return () => clearInterval(timer);
  }

  /** A rank's stderr lines so far (the last few thousand). */
  stderrOf(rank: number): string[] {
    return this.stderr.since(rank);
  }

  get expired(): Expiry | undefined {
    return this.expiry;
  }

  private async captureStacks(): Promise<Capture> {
    const { nodes, python, runId, paths } = this.opts;
    try {
      const capture = await captureHang({
        nodes, python, runId, paths, processes: [...this.watchdog.processes.values()], stderr: this.stderr, nativeStacks: this.opts.nativeStacks,
      });
      if (this.expiry?.reason === 'silence') {
        capture.messages.unshift({ rank: null, text: `no output and no result from any rank for ${this.expiry.limitMs / 1000} s (distest.silenceSeconds)` });
      }
      return capture;
    } catch (err) {
      return { faults: [], messages: [{ rank: null, text: `stack capture failed: ${(err as Error).message}` }] };
    }
  }

  /** Adds what the launch's faults explain to the results of its tests (in place). */
  async annotate(results: TestResult[], outcome: { signal: string | null; launcherText: string; cancelled: boolean }): Promise<void> {
    const byId = new Map(results.map(r => [r.id, r]));
    const add = (rank: number | null, fault: Fault | undefined, messages: ResultMessage[]) => {
      const test = rank !== null ? this.watchdog.testOf(rank) ?? this.expiry?.test : this.expiry?.test;
      const targets = test && byId.has(test) ? [byId.get(test) as TestResult] : results.filter(r => r.state === 'errored');
      for (const result of targets) {
        result.state = 'errored';
        result.messages.push(...messages.filter(m => !result.messages.some(known => known.text === m.text)));
        if (fault) (result.faults ??= []).push(fault);
      }
    };
    if (this.capture) {
      const capture = await this.capture;
      for (const fault of capture.faults) add(fault.rank, fault, []);
      add(null, undefined, capture.messages);
    }
    if (outcome.cancelled || this.capture) return;
    const failures = parseLauncherFailure(outcome.launcherText);
    const crashes = findCrashes({
      paths: this.opts.paths, processes: this.watchdog.processes, failures, stderr: this.stderr,
      launchSignal: outcome.signal, singleRank: this.opts.singleRank,
    });
    for (const crash of crashes) add(crash.fault.rank, crash.fault, [crash.message]);
    if (!crashes.length || !this.opts.cores.enable) return;
    const crashed = crashes.flatMap(c => {
      const p = this.watchdog.processes.get(c.fault.rank);
      return p && c.fault.signal && CORE_SIGNALS.has(c.fault.signal) ? [p] : [];
    });
    const { nodes, python, paths, cwd, coreBudget, coresFolder, cores } = this.opts;
    // Each core is on the node its rank crashed on; one node after the other, so the shared budget goes in rank order.
    for (const { node, ranks } of await nodes.byNode(crashed)) {
      const report = await collectCores({
        host: node, python, paths, cwd, crashed: ranks, since: this.startedAt, budget: coreBudget, gdb: await nodes.gdb(node),
        keep: { run: coresFolder, runs: cores.keepRuns },
        signalOf: rank => crashes.find(c => c.fault.rank === rank)?.fault.signal,
      });
      for (const { fault, text } of report.cores) {
        add(fault.rank, fault, [{ rank: fault.rank, text, ...(fault.file ? { file: fault.file, line: fault.line } : {}) }]);
      }
      if (report.notes.length) add(null, undefined, report.notes.map(text => ({ rank: null, text })));
    }
  }
}
