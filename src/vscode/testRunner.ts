import * as vscode from 'vscode';
import { describeAllocation } from '../core/allocation/allocation';
import { rankStatesOf, type LogStore, type RunLog } from '../core/logs/logStore';
import { ProjectPaths } from '../core/projectPaths';
import { debugRequest, runSession, type SessionEvents } from '../core/run/session';
import type { RankLine } from '../core/ranks/demux';
import { testName, type ResultMessage, type TestResult, type TestSpec } from '../core/types';
import type { AllocationSpec } from '../core/allocation/spec';
import type { AllocationPicker } from './allocation';
import type { DebugRun, DebugSessions } from './debugSessions';
import type { FaultDiagnostics } from './faultDiagnostics';
import { editorSettings } from './settings';
import type { FolderTestTree } from './testTree';

const rankColours = [36, 33, 35, 32, 34, 31];

/** `[rank 2] ` in a colour per rank, so interleaved output stays readable in the Test Results terminal. */
export function rankPrefix(rank: number | null): string {
  if (rank === null) return '\x1b[2m[launcher]\x1b[0m ';
  return `\x1b[${rankColours[rank % rankColours.length]}m[rank ${rank}]\x1b[0m `;
}

export interface RunDeps {
  controller: vscode.TestController;
  trees: () => FolderTestTree[];
  allocation: Pick<AllocationPicker, 'allocationFor' | 'startRun'>;
  log: Pick<vscode.LogOutputChannel, 'warn' | 'error'>;
  workspace: Pick<typeof vscode.workspace, 'isTrusted' | 'getConfiguration'>;
  /** Keeps every run's per-rank output for the Rank Logs view. */
  logs?: LogStore;
  /** Hangs, crashes and cores as Problems (replaced per test by its next run). */
  faults?: FaultDiagnostics;
  /** Runs in progress, stopped when the extension deactivates (window closed or reloaded). */
  active?: ActiveRuns;
  /** The rank debug sessions of Debug runs. */
  debugSessions?: Pick<DebugSessions, 'createRun'>;
}

/** What a request asks beyond its tests. */
export interface RunRequestOptions {
  /** A one-off destination instead of the workspace's allocation ("Run on…"). */
  allocationSpec?: AllocationSpec;
  /** A Debug run: the ranks under the debugger (`distest.debug.ranks` when not given). */
  debug?: { ranks?: 'all' | number[] };
  /** Called with each folder's DebugRun as it starts (the extension-host suite reads its sessions). */
  onDebugRun?: (debugRun: DebugRun) => void;
}

/** The runs in progress, so deactivation stops them instead of leaving ranks behind. */
export class ActiveRuns {
  private readonly runs = new Map<AbortController, Promise<void>>();

  track(abort: AbortController, done: Promise<void>): void {
    this.runs.set(abort, done);
    void done.finally(() => this.runs.delete(abort));
  }

  /** Cancels every run and waits (at most `limitMs`) for their processes to be gone. */
  async stopAll(limitMs: number): Promise<void> {
    for (const abort of this.runs.keys()) abort.abort();
    await Promise.race([Promise.allSettled([...this.runs.values()]), new Promise(resolve => setTimeout(resolve, limitMs))]);
  }
}

/** Runs a Test Explorer request through core/run, one workspace folder at a time. */
export async function runRequest(deps: RunDeps, request: vscode.TestRunRequest, token: vscode.CancellationToken, options: RunRequestOptions = {}): Promise<void> {
  const run = deps.controller.createTestRun(request);
  const excluded = new Set((request.exclude ?? []).map(i => i.id));
  const abort = new AbortController();
  // The profile's token, and the run's own (a run started by a command, or cancelled from its debug session).
  const cancelSubscriptions = [token, run.token].map(t => t.onCancellationRequested(() => abort.abort()));
  let finished!: () => void;
  const done = new Promise<void>(resolve => (finished = resolve));
  deps.active?.track(abort, done);
  deps.allocation.startRun();
  try {
    for (const tree of deps.trees()) {
      const include = request.include?.filter(i => tree.owns(i));
      if (request.include && !include?.length) continue;
      const items = tree.leaves(include, excluded);
      if (!items.length) continue;
      await runFolder(deps, tree, items, run, abort, options);
      if (abort.signal.aborted) break;
    }
  } catch (err) {
    deps.log.error(`run failed: ${String(err)}`);
    run.appendOutput(`distest: ${String(err)}\r\n`);
  } finally {
    for (const subscription of cancelSubscriptions) subscription.dispose();
    run.end();
    finished();
  }
}

async function runFolder(deps: RunDeps, tree: FolderTestTree, items: vscode.TestItem[], run: vscode.TestRun, abort: AbortController, options: RunRequestOptions): Promise<void> {
  const byId = new Map<string, vscode.TestItem>();
  const specs: TestSpec[] = [];
  for (const item of items) {
    const spec = tree.specOf(item);
    if (!spec) continue;
    byId.set(spec.id, item);
    specs.push(spec);
    run.enqueued(item);
  }
  if (!deps.workspace.isTrusted) {
    const message = new vscode.TestMessage('distest does not run tests in an untrusted folder: running them executes the code in it. Trust the folder (Workspaces: Manage Workspace Trust) to run.');
    for (const item of byId.values()) run.errored(item, message);
    return;
  }
  const settings = editorSettings(tree.folder.uri, deps.log, deps.workspace);
  let runLog: RunLog | undefined;
  let paths = new ProjectPaths(tree.folder.uri.fsPath);
  const fileUri = (file: string) => vscode.Uri.file(paths.localPath(file));
  // A Debug run: each launch's debugged ranks become rank sessions under a parent session carrying `run`.
  const debugRun = options.debug ? deps.debugSessions?.createRun(run, tree.folder, testName, () => abort.abort()) : undefined;
  if (debugRun) options.onDebugRun?.(debugRun);
  try {
    await runSession(specs, {
      root: tree.folder.uri.fsPath,
      settings,
      allocation: deps.allocation.allocationFor(tree.folder, settings, options.allocationSpec),
      signal: abort.signal,
      ...(options.debug ? { overrides: { debug: debugRequest(settings, options.debug.ranks) } } : {}),
      events: runEvents(),
    });
  } finally {
    debugRun?.end();
  }
  // A session never throws: the files are complete once it returns.
  runLog?.close();

  function runEvents(): SessionEvents {
    return {
      debugEndpoint: endpoint => debugRun?.endpoint(endpoint),
      debugLaunchEnded: launchId => debugRun?.launchEnded(launchId),
      progress: text => run.appendOutput(`distest: ${text}\r\n`),
      allocated: alloc => run.appendOutput(`distest: ${describeAllocation(alloc)}\r\n`),
      placed: async (placement, placed) => {
        paths = placed;
        runLog = await deps.logs?.startRun(`${tree.folder.name}: ${specs.length === 1 ? specs[0].id : `${specs.length} tests`}`, { local: tree.folder.uri.fsPath, run: placement.root })
          .catch(err => { deps.log.warn(`rank logs are not kept for this run: ${String(err)}`); return undefined; });
      },
      ...presentRanks(run, byId, () => runLog),
      result: (result: TestResult) => {
        const item = byId.get(result.id);
        logResult(runLog, item?.id ?? result.id, result);
        deps.faults?.update(tree.itemId(result.id), result, fileUri);
        if (item) report(run, item, result, fileUri);
      },
    };
  }
}

/**
 * How a run shown in a TestRun presents its tests' starts, notes and output (per rank, to the test's
 * output and to the run's rank log): the same for a run and for each iteration of a study.
 */
export function presentRanks(run: vscode.TestRun, byId: ReadonlyMap<string, vscode.TestItem>, runLog: () => RunLog | undefined): Pick<SessionEvents, 'started' | 'note' | 'output' | 'launcher' | 'record'> {
  return {
    started: id => { const item = byId.get(id); if (item) run.started(item); },
    note: text => run.appendOutput(`\x1b[2mdistest: ${text}\x1b[0m\r\n`),
    output: (line: RankLine) => {
      runLog()?.append(line.rank, line.stream, line.text);
      if (line.rank === null) return;
      const item = line.test ? byId.get(line.test) : undefined;
      run.appendOutput(`${rankPrefix(line.rank)}${line.text}\r\n`, undefined, item);
    },
    launcher: text => run.appendOutput(`${rankPrefix(null)}${text}\r\n`),
    record: r => { if (r.kind === 'hello') runLog()?.setHost(r.rank, r.host, r.pid); },
  };
}

/** A test's result in the run's rank log: each rank's state (the view's passed, failed, crashed, hung) and a line per fault on its rank. */
export function logResult(runLog: RunLog | undefined, itemId: string, result: TestResult): void {
  if (!runLog) return;
  runLog.setTestStates(itemId, rankStatesOf(result));
  for (const fault of result.faults ?? []) {
    runLog.append(fault.rank, 'stderr', `distest: ${fault.kind} on rank ${fault.rank} (${fault.host})${fault.signal ? ` ${fault.signal}` : ''}${fault.file ? ` at ${fault.file}:${fault.line}` : ''}`);
  }
}

function report(run: vscode.TestRun, item: vscode.TestItem, result: TestResult, fileUri: (file: string) => vscode.Uri): void {
  const messages = result.messages.map(m => toTestMessage(m, fileUri));
  switch (result.state) {
    case 'passed':
      for (const m of messages) run.appendOutput(`${m.message.toString()}\r\n`, m.location, item);
      run.passed(item, result.durationMs);
      break;
    case 'skipped':
      for (const m of messages) run.appendOutput(`skipped: ${m.message.toString()}\r\n`, m.location, item);
      run.skipped(item);
      break;
    case 'failed':
      run.failed(item, messages, result.durationMs);
      break;
    case 'errored':
      run.errored(item, messages.length ? messages : [new vscode.TestMessage('errored')], result.durationMs);
      break;
  }
}

export function toTestMessage(m: ResultMessage, fileUri: (file: string) => vscode.Uri): vscode.TestMessage {
  const message = new vscode.TestMessage(m.text);
  if (m.file && m.line) message.location = new vscode.Location(fileUri(m.file), new vscode.Position(Math.max(0, m.line - 1), 0));
  return message;
}
