import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { DISCOVERY_NODE_FLAGS } from '../core/discovery/cache';
import { startWithoutExtraCaCerts } from '../core/extraCaCerts';
import { DiscoverAll, RescanNeeded, SETTINGS_SECTION, TestsChanged, type ServerInitOptions, type TestsChangedParams } from '../protocol';
import type { FileDiscovery } from '../core/types';
import { serverSettings } from './settings';

/**
 * The client half of discovery: starts the language server (dist/server.js), asks it for full scans
 * and forwards its per-file updates (live edits, files changed on disk) to the test tree.
 */
export class DiscoveryClient implements vscode.Disposable {
  private readonly client: LanguageClient;
  private started: Promise<void> | undefined;

  constructor(
    context: vscode.ExtensionContext,
    log: vscode.LogOutputChannel,
    private readonly handlers: { fileTests(params: TestsChangedParams): void; rescanNeeded(): void },
  ) {
    const module = vscode.Uri.joinPath(context.extensionUri, 'dist', 'server.js').fsPath;
    // Laid over the extension host's environment by the client.
    const env = startWithoutExtraCaCerts();
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc, options: { execArgv: DISCOVERY_NODE_FLAGS, env } },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: [...DISCOVERY_NODE_FLAGS, '--nolazy', '--inspect=6019'], env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      // Settings go through serverSettings() (see below), never as the raw section: in an untrusted
      // folder the launcher templates must not reach the server.
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.py') },
      initializationOptions: {
        ...serverSettings(),
        cacheDir: vscode.Uri.joinPath(context.storageUri ?? context.globalStorageUri, 'discovery-cache').fsPath,
      } satisfies ServerInitOptions,
      outputChannel: log,
    };
    this.client = new LanguageClient('distest', 'distest discovery', serverOptions, clientOptions);
    const sendSettings = () => {
      if (this.client.isRunning()) void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SETTINGS_SECTION]: serverSettings() } });
    };
    context.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration(e => { if (e.affectsConfiguration(SETTINGS_SECTION)) sendSettings(); }),
      vscode.workspace.onDidGrantWorkspaceTrust(sendSettings),
    );
  }

  start(): Promise<void> {
    this.started ??= this.client.start().then(() => {
      this.client.onNotification(TestsChanged, params => this.handlers.fileTests(params));
      this.client.onNotification(RescanNeeded, () => this.handlers.rescanNeeded());
    });
    return this.started;
  }

  async discoverAll(folder: vscode.WorkspaceFolder): Promise<FileDiscovery[]> {
    await this.start();
    return this.client.sendRequest(DiscoverAll, { folderUri: folder.uri.toString() });
  }

  async dispose(): Promise<void> {
    if (this.started) await this.client.stop().catch(() => undefined);
  }
}
