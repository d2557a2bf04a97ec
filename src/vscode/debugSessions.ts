import * as vscode from 'vscode';
import type { DebugEndpoint } from '../core/debug/request';

/** The debugger type distest contributes: every rank session and the parent session of a launch. */
export const DEBUG_TYPE = 'distest-rank';

/** debugpy 1.6's filters that stop a rank where a test fails: an exception leaving the user's code, or the process. */
const BREAK_ON_FAILURE_FILTERS = ['uncaught', 'userUnhandled'];

/** What distest puts in the configurations it starts (a launch.json entry has none of it). */
interface DistestConfig extends vscode.DebugConfiguration {
  distestLaunch: string;
  distestRole: 'launch' | 'rank';
}

interface RankConfig extends DistestConfig {
  distestRole: 'rank';
  distestEndpoint: { host: string; port: number; rank: number };
  breakOnFailure: boolean;
}

/** DAP requests after which a stopped thread runs (the adapter answers them without a `continued` event). */
const RESUMING_REQUESTS = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto']);

const isDistest = (config: vscode.DebugConfiguration): config is DistestConfig => typeof config.distestLaunch === 'string';
const isRank = (config: vscode.DebugConfiguration): config is RankConfig => isDistest(config) && config.distestRole === 'rank';

/** Where a rank session's debuggee is, from the DAP events it sent. */
export interface RankState {
  session: vscode.DebugSession;
  rank: number;
  stoppedThread?: number;
  /** When the session first reported `stopped` (ms since the epoch). */
  firstStopAt?: number;
}

/**
 * The parent session of a launch: VS Code needs an adapter for it, this one only answers. It ends when
 * distest says so (the launch is over) or when VS Code disconnects it.
 */
class LaunchAdapter implements vscode.DebugAdapter {
  private readonly emitter = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.emitter.event;
  private seq = 1;
  private ended = false;

  handleMessage(message: vscode.DebugProtocolMessage): void {
    const m = message as { type?: string; seq?: number; command?: string };
    if (m.type !== 'request') return;
    const body = m.command === 'initialize' ? { supportsConfigurationDoneRequest: true } : m.command === 'threads' ? { threads: [] } : undefined;
    this.send({ type: 'response', request_seq: m.seq, success: true, command: m.command, ...(body ? { body } : {}) });
    if (m.command === 'initialize') this.send({ type: 'event', event: 'initialized' });
    if (m.command === 'disconnect') this.ended = true;
  }

  /** Ends the session from the adapter's side (a `terminated` event): no cancellation of the test run. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.send({ type: 'event', event: 'terminated' });
  }

  dispose(): void {
    this.emitter.dispose();
  }

  private send(message: object): void {
    this.emitter.fire({ seq: this.seq++, ...message } as vscode.DebugProtocolMessage);
  }
}

/** One launch under the debugger: its parent session and a session per debugged rank. */
export class Launch {
  parent?: vscode.DebugSession;
  parentStarted?: Promise<vscode.DebugSession | undefined>;
  adapter?: LaunchAdapter;
  readonly ranks = new Map<string, RankState>();
  ended = false;

  constructor(readonly id: string, readonly debugRun: DebugRun) {}
}

/** What a Debug run tells its launches' sessions, and the numbers it measured. */
export interface DebugRunStats {
  /** ms from the run's start to the first `stopped` of each rank session, by rank (first launch of a rank wins). */
  firstStopMs: Map<number, number>;
}

/**
 * The debug sessions of one Debug test run. Fed by the run session's `debugEndpoint` / `debugLaunchEnded`
 * events; `stop` (the user stopped a launch's session) cancels the run.
 */
export class DebugRun {
  readonly started = Date.now();
  readonly stats: DebugRunStats = { firstStopMs: new Map() };
  /** Every endpoint the run's launches reported, in order. */
  readonly endpoints: DebugEndpoint[] = [];
  private readonly launches = new Map<string, Launch>();
  private ending = false;

  constructor(
    private readonly sessions: DebugSessions,
    readonly run: vscode.TestRun,
    readonly folder: vscode.WorkspaceFolder,
    /** The label of a test id (the Test Explorer's), for the parent session's name. */
    private readonly labelOf: (testId: string) => string,
    /** Cancels the run: every rank, the launcher and the adapters end. */
    readonly stop: () => void,
  ) {}

  /** A rank listens: its launch's parent session (started once) gets a child session for it. */
  endpoint(endpoint: DebugEndpoint): void {
    if (this.ending) return;
    this.endpoints.push(endpoint);
    this.sessions.log.info(`debug: rank ${endpoint.rank} of ${endpoint.size} (${endpoint.node}) listens at ${endpoint.host}:${endpoint.port}, ${Date.now() - this.started} ms into the run`);
    const launch = this.launchFor(endpoint.launchId);
    if (launch.ended) return;
    if (!launch.parentStarted) launch.parentStarted = this.startParent(launch, endpoint);
    void this.startRank(launch, endpoint).catch(err => this.sessions.log.error(`debug session for rank ${endpoint.rank} of launch ${endpoint.launchId}: ${String(err)}`));
  }

  /** The launch's ranks are gone: its sessions end (the parent from its own side, without cancelling the run). */
  launchEnded(launchId: string): void {
    const launch = this.launches.get(launchId);
    if (!launch) return;
    launch.ended = true;
    this.endSessions(launch);
  }

  /** The test run is over (or cancelled): every session of every launch ends. */
  end(): void {
    this.ending = true;
    for (const launch of this.launches.values()) {
      launch.ended = true;
      this.endSessions(launch);
    }
    this.sessions.forget(this);
  }

  /** Every launch of this run (for the all-ranks commands). */
  launchList(): readonly Launch[] {
    return [...this.launches.values()];
  }

  private launchFor(id: string): Launch {
    let launch = this.launches.get(id);
    if (!launch) {
      launch = new Launch(id, this);
      this.launches.set(id, launch);
      this.sessions.register(launch);
    }
    return launch;
  }

  private async startParent(launch: Launch, endpoint: DebugEndpoint): Promise<vscode.DebugSession | undefined> {
    const tests = endpoint.testIds.length === 1 ? this.labelOf(endpoint.testIds[0]) : `${endpoint.testIds.length} tests`;
    const config: DistestConfig = {
      type: DEBUG_TYPE, request: 'launch', name: `${tests} · ${endpoint.size} rank${endpoint.size === 1 ? '' : 's'}`,
      distestLaunch: launch.id, distestRole: 'launch',
    };
    const session = this.sessions.awaitSession(launch.id, 'launch');
    const ok = await vscode.debug.startDebugging(this.folder, config, { testRun: this.run, suppressSaveBeforeStart: true });
    if (!ok) {
      this.sessions.cancelAwait(launch.id, 'launch');
      return undefined;
    }
    launch.parent = await session;
    if (launch.ended) launch.adapter?.end();
    return launch.parent;
  }

  private async startRank(launch: Launch, endpoint: DebugEndpoint): Promise<void> {
    const parent = await launch.parentStarted;
    if (!parent || launch.ended) return;
    const config: RankConfig = {
      type: DEBUG_TYPE, request: 'attach', name: `rank ${endpoint.rank} of ${endpoint.size} (${endpoint.node})`,
      justMyCode: true, subProcess: false, pathMappings: endpoint.pathMappings, breakOnFailure: endpoint.breakOnFailure,
      distestLaunch: launch.id, distestRole: 'rank', distestEndpoint: { host: endpoint.host, port: endpoint.port, rank: endpoint.rank },
    };
    await vscode.debug.startDebugging(this.folder, config, {
      parentSession: parent, lifecycleManagedByParent: true, consoleMode: vscode.DebugConsoleMode.Separate, suppressSaveBeforeStart: true,
    });
    this.sessions.log.info(`debug: ${config.name} attached, ${Date.now() - this.started} ms into the run`);
  }

  private endSessions(launch: Launch): void {
    // Rank sessions end by themselves when their debuggee's adapter goes; one still there is told to go.
    for (const state of launch.ranks.values()) void Promise.resolve(state.session.customRequest('disconnect', { terminateDebuggee: false })).catch(() => undefined);
    launch.adapter?.end();
  }
}

/**
 * distest's debugger: the descriptor factory (a DebugAdapterServer per rank endpoint, an inline adapter
 * for a launch's parent session), the tracker that follows each rank's stops, and the all-ranks commands.
 */
export class DebugSessions implements vscode.Disposable {
  private readonly launches = new Map<string, Launch>();
  private readonly waiting = new Map<string, (session: vscode.DebugSession | undefined) => void>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly log: Pick<vscode.LogOutputChannel, 'info' | 'warn' | 'error'>) {
    this.disposables.push(
      vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, { createDebugAdapterDescriptor: session => this.descriptor(session) }),
      vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, { createDebugAdapterTracker: session => this.tracker(session) }),
      vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, {
        resolveDebugConfiguration: (_folder, config) => {
          if (isDistest(config)) return config;
          void vscode.window.showInformationMessage('distest starts its rank sessions itself: use Debug in the Test Explorer (or "distest: Debug Ranks…") on a test.');
          return undefined;
        },
      }),
      vscode.debug.onDidStartDebugSession(session => this.started(session)),
      vscode.debug.onDidTerminateDebugSession(session => this.terminated(session)),
      vscode.commands.registerCommand('distest.debug.continueAll', (context?: unknown) => this.continueAll(this.launchOf(context))),
      vscode.commands.registerCommand('distest.debug.pauseAll', (context?: unknown) => this.pauseAll(this.launchOf(context))),
      vscode.commands.registerCommand('distest.debug.stepOverAll', (context?: unknown) => this.stepOverAll(this.launchOf(context))),
    );
  }

  /** A new Debug run's sessions. */
  createRun(run: vscode.TestRun, folder: vscode.WorkspaceFolder, labelOf: (testId: string) => string, stop: () => void): DebugRun {
    return new DebugRun(this, run, folder, labelOf, stop);
  }

  register(launch: Launch): void {
    this.launches.set(launch.id, launch);
  }

  forget(run: DebugRun): void {
    for (const [id, launch] of this.launches) if (launch.debugRun === run) this.launches.delete(id);
  }

  /** Resolves with the session distest's next startDebugging of `launchId`/`role` creates. */
  awaitSession(launchId: string, role: DistestConfig['distestRole']): Promise<vscode.DebugSession | undefined> {
    return new Promise(resolve => this.waiting.set(`${launchId}/${role}`, resolve));
  }

  cancelAwait(launchId: string, role: DistestConfig['distestRole']): void {
    this.waiting.get(`${launchId}/${role}`)?.(undefined);
    this.waiting.delete(`${launchId}/${role}`);
  }

  /** Continues every stopped rank of the launch; resolves with how many were continued. */
  async continueAll(launch = this.launchOf()): Promise<number> {
    return this.eachRank(launch, 'Continue All Ranks', async state => {
      if (state.stoppedThread === undefined) return false;
      await state.session.customRequest('continue', { threadId: state.stoppedThread });
      return true;
    });
  }

  /** Pauses every running rank of the launch; resolves with how many were asked to pause. */
  async pauseAll(launch = this.launchOf()): Promise<number> {
    return this.eachRank(launch, 'Pause All Ranks', async state => {
      if (state.stoppedThread !== undefined) return false;
      const { threads } = (await state.session.customRequest('threads')) as { threads: { id: number }[] };
      if (!threads.length) return false;
      await state.session.customRequest('pause', { threadId: threads[0].id });
      return true;
    });
  }

  /** Steps over the current line in every stopped rank of the launch; resolves with how many stepped. */
  async stepOverAll(launch = this.launchOf()): Promise<number> {
    return this.eachRank(launch, 'Step Over All Ranks', async state => {
      if (state.stoppedThread === undefined) return false;
      await state.session.customRequest('next', { threadId: state.stoppedThread });
      return true;
    });
  }

  /** The rank sessions of the launch of `context` (a session id from the toolbar, else the active session). */
  ranksOf(launch: Launch | undefined): RankState[] {
    return launch ? [...launch.ranks.values()].sort((a, b) => a.rank - b.rank) : [];
  }

  /** The launch the command is about: the toolbar's session, else the active one, else the only one. */
  launchOf(context?: unknown): Launch | undefined {
    const sessionId = typeof context === 'object' && context && typeof (context as { sessionId?: unknown }).sessionId === 'string' ? (context as { sessionId: string }).sessionId : undefined;
    const session = sessionId ? this.findSession(sessionId) : vscode.debug.activeDebugSession;
    const byConfig = session && isDistest(session.configuration) ? this.launches.get(session.configuration.distestLaunch) : undefined;
    if (byConfig) return byConfig;
    const live = [...this.launches.values()].filter(l => !l.ended);
    return live.length === 1 ? live[0] : undefined;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private findSession(id: string): vscode.DebugSession | undefined {
    for (const launch of this.launches.values()) {
      if (launch.parent?.id === id) return launch.parent;
      const rank = launch.ranks.get(id);
      if (rank) return rank.session;
    }
    return undefined;
  }

  private async eachRank(launch: Launch | undefined, what: string, act: (state: RankState) => Promise<boolean>): Promise<number> {
    const ranks = this.ranksOf(launch);
    if (!ranks.length) {
      void vscode.window.showInformationMessage(`distest: ${what}: no distest debug session is active.`);
      return 0;
    }
    const done = await Promise.all(ranks.map(state => act(state).catch(err => {
      this.log.warn(`${what}: rank ${state.rank}: ${String(err)}`);
      return false;
    })));
    return done.filter(Boolean).length;
  }

  private descriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor | undefined {
    const config = session.configuration;
    if (isRank(config)) return new vscode.DebugAdapterServer(config.distestEndpoint.port, config.distestEndpoint.host);
    if (isDistest(config)) {
      const launch = this.launches.get(config.distestLaunch);
      const adapter = new LaunchAdapter();
      if (launch) launch.adapter = adapter;
      return new vscode.DebugAdapterInlineImplementation(adapter);
    }
    return undefined;
  }

  private tracker(session: vscode.DebugSession): vscode.DebugAdapterTracker | undefined {
    const config = session.configuration;
    if (!isRank(config)) return undefined;
    const launch = this.launches.get(config.distestLaunch);
    const state: RankState = { session, rank: config.distestEndpoint.rank };
    launch?.ranks.set(session.id, state);
    return {
      // Break on failure: debugpy's filters join whatever the Breakpoints view asks for.
      onWillReceiveMessage: message => {
        const m = message as { type?: string; command?: string; arguments?: { filters?: string[] } };
        // debugpy sends no `continued` for the requests that resume: the rank runs until its next `stopped`.
        if (m.type === 'request' && m.command && RESUMING_REQUESTS.has(m.command)) state.stoppedThread = undefined;
        if (config.breakOnFailure && m.type === 'request' && m.command === 'setExceptionBreakpoints' && m.arguments) {
          m.arguments.filters = [...new Set([...(m.arguments.filters ?? []), ...BREAK_ON_FAILURE_FILTERS])];
        }
      },
      onDidSendMessage: message => {
        const m = message as { type?: string; event?: string; body?: { threadId?: number; reason?: string } };
        if (m.type !== 'event') return;
        if (m.event === 'stopped') {
          state.stoppedThread = m.body?.threadId;
          if (state.firstStopAt === undefined && launch) {
            state.firstStopAt = Date.now();
            const stats = launch.debugRun.stats.firstStopMs;
            if (!stats.has(state.rank)) stats.set(state.rank, state.firstStopAt - launch.debugRun.started);
            this.log.info(`debug: ${session.name} stopped (${m.body?.reason ?? 'no reason given'}), ${state.firstStopAt - launch.debugRun.started} ms into the run`);
          }
        } else if (m.event === 'continued') {
          state.stoppedThread = undefined;
        }
      },
      onExit: () => launch?.ranks.delete(session.id),
    };
  }

  private started(session: vscode.DebugSession): void {
    const config = session.configuration;
    if (!isDistest(config)) return;
    const key = `${config.distestLaunch}/${config.distestRole}`;
    this.waiting.get(key)?.(session);
    this.waiting.delete(key);
  }

  /** The user stopped a launch's session (Stop on the toolbar, on the parent or, managed by it, a rank): the run is cancelled. */
  private terminated(session: vscode.DebugSession): void {
    const config = session.configuration;
    if (!isDistest(config)) return;
    const launch = this.launches.get(config.distestLaunch);
    if (!launch) return;
    if (config.distestRole === 'rank') {
      launch.ranks.delete(session.id);
      return;
    }
    if (!launch.ended) launch.debugRun.stop();
  }
}
