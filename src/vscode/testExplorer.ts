import * as vscode from 'vscode';
import { parseRankSelection } from '../core/debug/request';
import { LogStore } from '../core/logs/logStore';
import type { TestsChangedParams } from '../protocol';
import { AllocationPicker } from './allocation';
import { DebugSessions } from './debugSessions';
import { DiscoveryClient } from './discoveryClient';
import { FaultDiagnostics } from './faultDiagnostics';
import { registerLogView } from './logView';
import { editorSettings } from './settings';
import { Studies } from './studies';
import { ActiveRuns, runRequest, type RunDeps, type RunRequestOptions } from './testRunner';
import { FolderTestTree, itemId } from './testTree';

/**
 * distest in the Testing view: the controller, one test tree per workspace folder kept current by the
 * discovery server, the run profiles, and what runs feed (rank logs, fault Problems, the allocation).
 */
export class TestExplorer implements vscode.Disposable {
  readonly controller = vscode.tests.createTestController('distest', 'distest (MPI tests)');
  /** Resolves once every workspace folder has been discovered once. */
  readonly discovered: Promise<void>;
  /** Rank debug sessions of Debug runs, and the all-ranks commands. */
  readonly debugSessions: DebugSessions;
  /** The default Debug profile (also behind "Debug Ranks…"). */
  readonly debugProfile: vscode.TestRunProfile;
  private readonly runDeps: RunDeps;
  private readonly trees = new Map<string, FolderTestTree>();
  private readonly discovery: DiscoveryClient;
  private readonly allocation: AllocationPicker;
  private readonly faults = new FaultDiagnostics();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(context: vscode.ExtensionContext, private readonly log: vscode.LogOutputChannel, active: ActiveRuns) {
    this.allocation = new AllocationPicker(context, log);
    this.discovery = new DiscoveryClient(context, log, { fileTests: params => this.applyFileTests(params), rescanNeeded: () => void this.refresh() });
    const logs = new LogStore({
      root: vscode.Uri.joinPath(context.storageUri ?? context.globalStorageUri, 'rank-logs').fsPath,
      keepRuns: editorSettings().logs.keepRuns,
    });
    registerLogView(context, logs);
    this.debugSessions = new DebugSessions(log);
    const runDeps: RunDeps = (this.runDeps = {
      controller: this.controller, trees: () => [...this.trees.values()], allocation: this.allocation, log, workspace: vscode.workspace, logs, faults: this.faults, active,
      debugSessions: this.debugSessions,
    });
    this.controller.refreshHandler = () => this.refresh();
    this.controller.createRunProfile('Run on allocation', vscode.TestRunProfileKind.Run, (request, token) => runRequest(runDeps, request, token), true);
    // A one-off destination: asks where, runs there, and leaves the workspace's choice as it was.
    this.controller.createRunProfile('Run on…', vscode.TestRunProfileKind.Run, async (request, token) => {
      const spec = await this.allocation.choose('distest: run these tests on…');
      if (spec && !token.isCancellationRequested) await runRequest(runDeps, request, token, { allocationSpec: spec });
    }, false);
    // Every rank (or those of distest.debug.ranks) under the debugger, one session each under the launch's.
    this.debugProfile = this.controller.createRunProfile('Debug on allocation', vscode.TestRunProfileKind.Debug, (request, token) => runRequest(runDeps, request, token, { debug: {} }), true);
    this.disposables.push(
      new Studies(context, runDeps),
      this.controller, this.allocation, this.discovery, this.faults, this.debugSessions,
      vscode.commands.registerCommand('distest.debugRanks', (item?: vscode.TestItem) => this.debugRanks(item)),
      vscode.commands.registerCommand('distest.refresh', () => this.refresh()),
      vscode.commands.registerCommand('distest.selectAllocation', () => this.allocation.pick()),
      vscode.commands.registerCommand('distest.releaseAllocation', () => this.allocation.release()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.refresh()),
    );
    this.discovered = this.refresh();
  }

  /** Discovers every workspace folder again from disk. */
  async refresh(): Promise<void> {
    await Promise.all((vscode.workspace.workspaceFolders ?? []).map(folder => this.discoverFolder(folder).catch(err => {
      this.log.error(`discovery of ${folder.name} failed: ${String(err)}`);
    })));
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** Debug run of `items` with only `ranks` under the debugger ("Debug Ranks…", the extension-host suite). */
  debugTests(items: vscode.TestItem[], ranks: 'all' | number[], options: Omit<RunRequestOptions, 'debug'> = {}): Promise<void> {
    const request = new vscode.TestRunRequest(items, undefined, this.debugProfile);
    return runRequest(this.runDeps, request, new vscode.CancellationTokenSource().token, { ...options, debug: { ranks } });
  }

  /** "Debug Ranks…": which ranks of the test (the row's, else the one at the cursor) get a debugger, then a Debug run. */
  private async debugRanks(item?: vscode.TestItem): Promise<void> {
    const test = item ?? this.testAtCursor();
    if (!test) {
      void vscode.window.showInformationMessage('distest: Debug Ranks… needs a test: use it on a test in the Test Explorer or with the cursor in a test.');
      return;
    }
    const tree = [...this.trees.values()].find(t => t.owns(test));
    const leaves = tree?.leaves([test], new Set()) ?? [];
    const size = Math.max(0, ...leaves.map(leaf => tree?.specOf(leaf)?.ranks ?? 0));
    const ranks = await pickRanks(test.label, size, editorSettings(tree?.folder.uri, this.log).debug.ranks);
    if (ranks !== undefined) await this.debugTests([test], ranks);
  }

  /** The innermost test whose range holds the active editor's cursor. */
  private testAtCursor(): vscode.TestItem | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return undefined;
    const cursor = editor.selection.active;
    let best: vscode.TestItem | undefined;
    const visit = (item: vscode.TestItem) => {
      if (item.uri?.toString() === editor.document.uri.toString() && item.range?.contains(cursor)) {
        if (!best?.range || best.range.contains(item.range)) best = item;
      }
      item.children.forEach(visit);
    };
    this.controller.items.forEach(visit);
    return best;
  }

  private async discoverFolder(folder: vscode.WorkspaceFolder): Promise<void> {
    const started = Date.now();
    const files = await this.discovery.discoverAll(folder);
    const tree = this.treeFor(folder);
    for (const file of files) tree.replaceFile(file.file, file.tests);
    const count = files.reduce((n, f) => n + f.tests.length, 0);
    this.log.info(`discovered ${count} tests in ${files.length} files of ${folder.name} in ${Date.now() - started} ms`);
  }

  private applyFileTests(params: TestsChangedParams): void {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(params.folderUri));
    if (folder) this.treeFor(folder).replaceFile(params.file, params.tests);
  }

  /** A folder's tree; in a multi-root workspace under an item of its own. */
  private treeFor(folder: vscode.WorkspaceFolder): FolderTestTree {
    const key = folder.uri.toString();
    let tree = this.trees.get(key);
    if (!tree) {
      let root = this.controller.items;
      if ((vscode.workspace.workspaceFolders?.length ?? 0) > 1) {
        const folderItem = this.controller.createTestItem(itemId(folder.uri, ''), folder.name, folder.uri);
        this.controller.items.add(folderItem);
        root = folderItem.children;
      }
      this.trees.set(key, (tree = new FolderTestTree(this.controller, folder, root)));
    }
    return tree;
  }
}

/**
 * The ranks to debug, as a quick pick: `all`, each rank of the test, or a list typed in (`0,2-3`);
 * `current` (distest.debug.ranks) is offered first. Undefined when the user backs out.
 */
function pickRanks(testLabel: string, size: number, current: string): Promise<'all' | number[] | undefined> {
  type Choice = vscode.QuickPickItem & { value: string };
  const fixed: Choice[] = [
    { label: 'all', description: 'every rank', value: 'all' },
    ...Array.from({ length: size }, (_, rank) => ({ label: String(rank), description: `rank ${rank} only`, value: String(rank) })),
  ];
  const pick = vscode.window.createQuickPick<Choice>();
  pick.title = `Debug ${testLabel}: ranks under the debugger`;
  pick.placeholder = 'all, 0, or a list like 0,2-3 (the other ranks run without a debugger)';
  const itemsFor = (typed: string): Choice[] => {
    const text = typed.trim();
    const own = text && !fixed.some(c => c.value === text) ? [{ label: text, description: describeSelection(text), value: text }] : [];
    const setting = current !== 'all' && !fixed.some(c => c.value === current) && current !== text ? [{ label: current, description: 'distest.debug.ranks', value: current }] : [];
    return [...own, ...setting, ...fixed];
  };
  pick.items = itemsFor('');
  const preselected = pick.items.find(c => c.value === current);
  if (preselected) pick.activeItems = [preselected];
  return new Promise(resolve => {
    let settled = false;
    const finish = (value: 'all' | number[] | undefined) => {
      if (settled) return;
      settled = true;
      resolve(value);
      pick.dispose();
    };
    pick.onDidChangeValue(value => (pick.items = itemsFor(value)));
    pick.onDidAccept(() => {
      const choice = pick.selectedItems[0] ?? pick.activeItems[0];
      if (!choice) return;
      // A selection that does not parse stays in the pick, its description saying why.
      try {
        finish(parseRankSelection(choice.value));
      } catch {
        pick.items = itemsFor(choice.value);
      }
    });
    pick.onDidHide(() => finish(undefined));
    pick.show();
  });
}

/** `0,2-3` → "ranks 0, 2, 3"; a selection that does not parse → why. */
function describeSelection(text: string): string {
  try {
    const ranks = parseRankSelection(text);
    return ranks === 'all' ? 'every rank' : `rank${ranks.length === 1 ? '' : 's'} ${ranks.join(', ')}`;
  } catch (err) {
    return `⚠ ${(err as Error).message}`;
  }
}
