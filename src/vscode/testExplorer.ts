import * as vscode from 'vscode';
import { LogStore } from '../core/logs/logStore';
import type { TestsChangedParams } from '../protocol';
import { AllocationPicker } from './allocation';
import { DiscoveryClient } from './discoveryClient';
import { FaultDiagnostics } from './faultDiagnostics';
import { registerLogView } from './logView';
import { editorSettings } from './settings';
import { Studies } from './studies';
import { ActiveRuns, runRequest, type RunDeps } from './testRunner';
import { FolderTestTree, itemId } from './testTree';

/**
 * distest in the Testing view: the controller, one test tree per workspace folder kept current by the
 * discovery server, the run profiles, and what runs feed (rank logs, fault Problems, the allocation).
 */
export class TestExplorer implements vscode.Disposable {
  readonly controller = vscode.tests.createTestController('distest', 'distest (MPI tests)');
  /** Resolves once every workspace folder has been discovered once. */
  readonly discovered: Promise<void>;
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
    const runDeps: RunDeps = {
      controller: this.controller, trees: () => [...this.trees.values()], allocation: this.allocation, log, workspace: vscode.workspace, logs, faults: this.faults, active,
    };
    this.controller.refreshHandler = () => this.refresh();
    this.controller.createRunProfile('Run on allocation', vscode.TestRunProfileKind.Run, (request, token) => runRequest(runDeps, request, token), true);
    // A one-off destination: asks where, runs there, and leaves the workspace's choice as it was.
    this.controller.createRunProfile('Run on…', vscode.TestRunProfileKind.Run, async (request, token) => {
      const spec = await this.allocation.choose('distest: run these tests on…');
      if (spec && !token.isCancellationRequested) await runRequest(runDeps, request, token, spec);
    }, false);
    this.disposables.push(
      new Studies(context, runDeps),
      this.controller, this.allocation, this.discovery, this.faults,
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
