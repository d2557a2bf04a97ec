import * as vscode from 'vscode';
import type { TestsChangedParams } from './protocol';
import { LogStore } from './core/logs/logStore';
import { AllocationPicker } from './vscode/allocation';
import { DiscoveryClient } from './vscode/discoveryClient';
import { FaultDiagnostics } from './vscode/faultDiagnostics';
import { registerLogView } from './vscode/logView';
import { ActiveRuns, runRequest } from './vscode/testRunner';
import { editorSettings } from './vscode/settings';
import { FolderTestTree } from './vscode/testTree';

/** What activate() hands to the extension-host test suite. */
export interface DistestApi {
  controller: vscode.TestController;
  /** Resolves once every workspace folder has been discovered once. */
  discovered: Promise<void>;
  refresh(): Promise<void>;
}

export function activate(context: vscode.ExtensionContext): DistestApi {
  const log = vscode.window.createOutputChannel('distest', { log: true });
  const controller = vscode.tests.createTestController('distest', 'distest (MPI tests)');
  const allocation = new AllocationPicker(context, log);
  const trees = new Map<string, FolderTestTree>();

  const treeFor = (folder: vscode.WorkspaceFolder): FolderTestTree => {
    const key = folder.uri.toString();
    let tree = trees.get(key);
    if (!tree) {
      const multiRoot = (vscode.workspace.workspaceFolders?.length ?? 0) > 1;
      let root = controller.items;
      if (multiRoot) {
        const folderItem = controller.createTestItem(`${key}|`, folder.name, folder.uri);
        controller.items.add(folderItem);
        root = folderItem.children;
      }
      trees.set(key, (tree = new FolderTestTree(controller, folder, root)));
    }
    return tree;
  };

  const applyFileTests = (params: TestsChangedParams) => {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(params.folderUri));
    if (folder) treeFor(folder).replaceFile(params.file, params.tests);
  };
  const discovery = new DiscoveryClient(context, log, { fileTests: applyFileTests, rescanNeeded: () => void refresh() });

  const discoverFolder = async (folder: vscode.WorkspaceFolder) => {
    const started = Date.now();
    const files = await discovery.discoverAll(folder);
    const tree = treeFor(folder);
    for (const file of files) tree.replaceFile(file.file, file.tests);
    const count = files.reduce((n, f) => n + f.tests.length, 0);
    log.info(`discovered ${count} tests in ${files.length} files of ${folder.name} in ${Date.now() - started} ms`);
  };
  const refresh = async () => {
    await Promise.all((vscode.workspace.workspaceFolders ?? []).map(f => discoverFolder(f).catch(err => {
      log.error(`discovery of ${f.name} failed: ${String(err)}`);
    })));
  };

  controller.refreshHandler = () => refresh();
  const logs = new LogStore({
    root: vscode.Uri.joinPath(context.storageUri ?? context.globalStorageUri, 'rank-logs').fsPath,
    keepRuns: editorSettings().logs.keepRuns,
  });
  registerLogView(context, logs);
  const faults = new FaultDiagnostics();
  const runDeps = { controller, trees: () => [...trees.values()], allocation, log, workspace: vscode.workspace, logs, faults, active: activeRuns };
  controller.createRunProfile('Run on allocation', vscode.TestRunProfileKind.Run, (request, token) => runRequest(runDeps, request, token), true);
  // A one-off destination: asks where, runs there, and leaves the workspace's choice as it was.
  controller.createRunProfile('Run on…', vscode.TestRunProfileKind.Run, async (request, token) => {
    const spec = await allocation.choose('distest: run these tests on…');
    if (spec && !token.isCancellationRequested) await runRequest(runDeps, request, token, spec);
  }, false);

  context.subscriptions.push(
    log, controller, allocation, discovery, faults,
    vscode.commands.registerCommand('distest.refresh', () => refresh()),
    vscode.commands.registerCommand('distest.selectAllocation', () => allocation.pick()),
    vscode.commands.registerCommand('distest.releaseAllocation', () => allocation.release()),
    vscode.commands.registerCommand('distest.showLog', () => log.show()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void refresh()),
  );

  const discovered = refresh();
  return { controller, discovered, refresh };
}

const activeRuns = new ActiveRuns();

/** Runs still going are cancelled (their process trees killed and swept) before the host goes away. */
export function deactivate(): Promise<void> {
  return activeRuns.stopAll(8000);
}
