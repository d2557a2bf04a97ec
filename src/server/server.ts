// The discovery language server: hosts core/discovery for the editor. Open Python files are discovered
// from their live text (debounced while typing), other files from disk when the watcher reports them.
// Started by the extension over IPC; `node dist/server.js --stdio` works too (tests use that).
import {
  createConnection, DiagnosticSeverity, FileChangeType, MarkupKind, TextDocuments, TextDocumentSyncKind,
  type Connection, type Diagnostic, type InitializeParams, type InitializeResult, type WorkspaceFolder,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DiscoveryCache, readTestFile, readText, tuneV8ForBulkParse, type ReadFile } from '../core/discovery/cache';
import type { MarkerInfo } from '../core/discovery/collect';
import { cachedListing, discoverFolder, PrestartedHelpers, serveDiscoveryWorker } from '../core/discovery/folder';
import { PythonTestParser } from '../core/discovery/parser';
import { discoverFile, folderOf, isTestFile } from '../core/discovery/registry';
import { restoreExtraCaCerts } from '../core/extraCaCerts';
import { hasEscapedBytes, printableFsName } from '../core/fsNames';
import type { FileDiscovery, MarkerDiagnostic, SourceRange, TestSpec } from '../core/types';
import { DiscoverAll, readServerSettings, RescanNeeded, SETTINGS_SECTION, TestsChanged, type ServerInitOptions, type ServerSettings } from '../protocol';
import { ExactPass } from './exact';
import { FolderMap, type Folder, type LocatedFile } from './folders';

const LIVE_EDIT_DEBOUNCE_MS = 150;
/** The discovery cache is written this long after the last change it got (and at shutdown). */
const CACHE_SAVE_DELAY_MS = 2000;

const SEVERITY: Record<MarkerDiagnostic['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information,
};

class DiscoveryServer {
  private readonly documents = new TextDocuments(TextDocument);
  private readonly folders = new FolderMap();
  private settings: ServerSettings = readServerSettings(undefined).settings;
  private parser?: Promise<PythonTestParser>;
  private readyParser?: PythonTestParser;
  private supportsFolderChanges = false;
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  /** Document version last discovered, so the open/change event pair of one open parses once. */
  private readonly discoveredVersion = new Map<string, number>();
  /** Hover data of each open document's last discovery. */
  private readonly markers = new Map<string, MarkerInfo[]>();
  private readonly urisWithDiagnostics = new Set<string>();
  /** Test files per folder the client has heard of, to clear them when their directory is deleted. */
  private readonly knownFiles = new Map<string, Set<string>>();
  private cache?: DiscoveryCache;
  private readonly cacheSaves = new Map<string, NodeJS.Timeout>();
  /** Folders whose first listing came from the cache (later ones are scanned: the cache is checked by then). */
  private readonly listedFromCache = new Set<string>();
  /** Settles dynamic items with pytest in the background (distest.discovery.exact, trusted folders). */
  private readonly exact: ExactPass;

  /** `helpers`: started with the server, for its first discovery (the workspace's first scan). */
  constructor(private readonly connection: Connection, private readonly helpers: PrestartedHelpers) {
    this.exact = new ExactPass({
      resolved: (folder, rel, discovery) => this.publish(this.folders.locateRel(folder, rel), undefined, discovery),
      log: message => connection.console.info(message),
      settings: () => this.settings.discovery,
    });
  }

  listen(): void {
    const { connection, documents } = this;
    connection.onInitialize(params => this.initialize(params));
    connection.onInitialized(() => this.guard('initialized', () => {
      if (this.supportsFolderChanges) {
        connection.workspace.onDidChangeWorkspaceFolders(event => {
          for (const removed of event.removed) this.folders.remove(removed.uri);
          for (const added of event.added) this.folders.add(added.uri);
        });
      }
    }));
    connection.onRequest(DiscoverAll, params => this.discoverAll(params.folderUri));
    connection.onDidChangeConfiguration(params => this.guard('settings', () => {
      const section = (params.settings as Record<string, unknown> | null | undefined)?.[SETTINGS_SECTION];
      if (section === undefined) return;
      this.applySettings(section);
      this.exact.forget();
      this.discoveredVersion.clear();
      for (const document of documents.all()) this.discoverDocument(document);
      connection.sendNotification(RescanNeeded);
    }));
    connection.onShutdown(() => this.saveCaches());
    connection.onDidChangeWatchedFiles(params => this.guard('watched files', async () => {
      for (const change of params.changes) await this.fileChangedOnDisk(change.uri, change.type);
    }));
    connection.onHover(params => {
      const line = params.position.line + 1;
      const column = params.position.character;
      const marker = this.markers.get(params.textDocument.uri)?.find(m => contains(m.range, line, column));
      return marker ? { contents: { kind: MarkupKind.PlainText, value: marker.summary }, range: toLspRange(marker.range) } : null;
    });

    documents.onDidOpen(event => this.guard('open', () => this.discoverDocument(event.document)));
    documents.onDidChangeContent(event => this.scheduleDocument(event.document));
    documents.onDidSave(event => this.guard('save', () => {
      this.discoveredVersion.delete(event.document.uri);
      return this.discoverDocument(event.document);
    }));
    documents.onDidClose(event => this.guard('close', async () => {
      const { uri } = event.document;
      clearTimeout(this.debounce.get(uri));
      this.debounce.delete(uri);
      this.discoveredVersion.delete(uri);
      this.markers.delete(uri);
      // The editor may have dropped unsaved edits: what counts now is the file on disk.
      const located = this.folders.locate(uri);
      if (located && this.isTestFile(located)) await this.discoverFromDisk(located);
    }));
    connection.onShutdown(() => this.exact.dispose());
    documents.listen(connection);
    connection.listen();
  }

  private initialize(params: InitializeParams): InitializeResult {
    const folders: WorkspaceFolder[] = params.workspaceFolders ?? (params.rootUri ? [{ uri: params.rootUri, name: 'root' }] : []);
    for (const folder of folders) this.folders.add(folder.uri);
    this.applySettings(params.initializationOptions);
    const cacheDir = (params.initializationOptions as Partial<ServerInitOptions> | undefined)?.cacheDir;
    if (typeof cacheDir === 'string' && cacheDir) this.cache = new DiscoveryCache({ dir: cacheDir, log: line => this.connection.console.warn(line) });
    this.supportsFolderChanges = params.capabilities.workspace?.workspaceFolders === true;
    this.parser = PythonTestParser.create();
    this.parser.catch(err => this.connection.console.error(`distest: cannot load the Python parser: ${describeError(err)}`));
    return {
      capabilities: {
        // Saves too: pytest reads the disk, so a saved document is when the exact pass can settle it.
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        hoverProvider: true,
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
      },
      serverInfo: { name: 'distest discovery' },
    };
  }

  private applySettings(raw: unknown): void {
    const { settings, problems } = readServerSettings(raw);
    this.settings = settings;
    for (const problem of problems) this.connection.console.warn(`distest settings: ${problem}`);
  }

  /**
   * A folder's test files. The first time, with a cache, the listing of the last session comes back at
   * once and is checked against the disk afterwards: a file whose tests differ reaches the client as
   * TestsChanged (a reopened workspace shows its tree before its 5,000 files are even stat'ed).
   */
  private async discoverAll(folderUri: string): Promise<FileDiscovery[]> {
    const folder = this.folders.add(folderUri);
    const cache = this.settings.discovery.cache ? this.cache : undefined;
    const cached = cache && !this.listedFromCache.has(folder.uri) ? cachedListing(folder.path, this.settings.discovery, cache) : undefined;
    if (!cached) return this.scanFolder(folder, cache);
    this.listedFromCache.add(folder.uri);
    const shown = cached.filter(file => !hasEscapedBytes(file.file));
    this.guard('checking the cached listing', async () => this.sendDifferences(folder, shown, await this.scanFolder(folder, cache)));
    return shown;
  }

  /** TestsChanged for every file whose tests the checked listing changes, adds or removes. */
  private sendDifferences(folder: Folder, shown: FileDiscovery[], checked: FileDiscovery[]): void {
    const before = new Map(shown.map(file => [file.file, file]));
    for (const file of checked) {
      const was = before.get(file.file);
      before.delete(file.file);
      if (was !== file && JSON.stringify(was?.tests ?? []) !== JSON.stringify(file.tests)) this.sendTests(folder, file.file, file.tests);
    }
    for (const gone of before.keys()) this.sendTests(folder, gone, []);
  }

  private sendTests(folder: Folder, file: string, tests: TestSpec[], uri = this.documentUri(folder.path, file)): void {
    this.connection.sendNotification(TestsChanged, { folderUri: folder.uri, file, uri, tests });
  }

  private async scanFolder(folder: Folder, cache: DiscoveryCache | undefined): Promise<FileDiscovery[]> {
    const started = Date.now();
    const results = new Map<string, FileDiscovery>();
    // The folder is walked and its cache read while the parser may still be loading.
    const scanned = await discoverFolder(folder.path, this.settings.discovery, this.ensureParser(), { workerScript: __filename, cache, beforeBulkParse: tuneV8ForBulkParse, helpers: this.helpers });
    for (const result of scanned) {
      // The editor addresses files by URI, which holds UTF-8 only: such a file could be neither opened
      // nor run from the Test Explorer, so it is named instead of shown.
      if (hasEscapedBytes(result.file)) {
        this.connection.console.warn(
          `distest: ${printableFsName(result.file)}: the file name is not valid UTF-8, so the editor can neither open it nor show its tests ` +
            `(${result.tests.length}); rename it, or run them with the distest command line (npx distest run)`,
        );
      } else {
        results.set(result.file, result);
      }
    }
    // Unsaved edits are what the user sees, so open documents count with their live text.
    for (const document of this.documents.all()) {
      const located = this.folders.locate(document.uri);
      if (located?.folder === folder && this.isTestFile(located)) results.set(located.rel, this.discoverText(located, document).discovery);
    }
    const sorted = [...results.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const files = this.exact.offerFolder(folder, sorted, rel => this.folders.fileUri(folder.path, rel).path);
    this.knownFiles.set(folder.uri, new Set(files.map(f => f.file)));
    const openUris = new Map(this.documents.all().map(d => [this.folders.locate(d.uri)?.path, d.uri]));
    for (const file of files) {
      const fileUri = this.folders.fileUri(folder.path, file.file);
      this.publishDiagnostics(openUris.get(fileUri.path) ?? fileUri.uri, file.diagnostics);
    }
    const tests = files.reduce((n, f) => n + f.tests.length, 0);
    this.connection.console.info(`distest: ${tests} tests in ${files.length} files of ${folder.path} (${Date.now() - started} ms)`);
    return files;
  }

  private scheduleDocument(document: TextDocument): void {
    clearTimeout(this.debounce.get(document.uri));
    this.debounce.set(document.uri, setTimeout(() => {
      this.debounce.delete(document.uri);
      const current = this.documents.get(document.uri);
      if (current) this.guard('edit', () => this.discoverDocument(current));
    }, LIVE_EDIT_DEBOUNCE_MS));
  }

  private async discoverDocument(document: TextDocument): Promise<void> {
    if (this.discoveredVersion.get(document.uri) === document.version) return;
    const located = this.folders.locate(document.uri);
    if (!located || !this.isTestFile(located)) return;
    await this.ensureParser();
    // The document may have changed or closed while the parser loaded.
    const current = this.documents.get(document.uri);
    if (!current || this.discoveredVersion.get(current.uri) === current.version) return;
    this.discoveredVersion.set(current.uri, current.version);
    const collected = this.discoverText(located, current);
    this.markers.set(current.uri, collected.markers);
    this.send(located, current.uri, collected.discovery, current.getText());
  }

  private discoverText(located: LocatedFile, document: TextDocument) {
    const text = document.getText();
    const collected = discoverFile(this.parserNow(), located.rel, text, this.settings.discovery);
    this.keepInCache(located, collected.discovery, readText(text));
    return collected;
  }

  /**
   * A file's fresh discovery goes into its folder's cache when it was made with the context the folder's
   * discovery left (same settings, same modules), else the entry is dropped.
   */
  private keepInCache(located: LocatedFile, discovery: FileDiscovery | undefined, read: ReadFile | undefined): void {
    const folderCache = this.cache?.opened(located.folder.path);
    if (!folderCache) return;
    const context = discovery && read && this.readyParser ? folderOf(located.rel, this.settings.discovery, this.readyParser) : undefined;
    if (context?.cache === folderCache && context.root === located.folder.path) folderCache.put(discovery!, read!);
    else folderCache.forget(located.rel);
    this.scheduleCacheSave(located.folder);
  }

  private scheduleCacheSave(folder: Folder): void {
    clearTimeout(this.cacheSaves.get(folder.path));
    this.cacheSaves.set(folder.path, setTimeout(() => {
      this.cacheSaves.delete(folder.path);
      this.guard('cache save', () => this.cache?.opened(folder.path)?.save());
    }, CACHE_SAVE_DELAY_MS));
  }

  private saveCaches(): void {
    for (const [root, timer] of this.cacheSaves) {
      clearTimeout(timer);
      this.guard('cache save', () => this.cache?.opened(root)?.save());
    }
    this.cacheSaves.clear();
  }

  /**
   * A file other test files' discovery read (a conftest.py, an imported module) or looked for changed:
   * the folder is discovered again (its cache finds the change and rediscovers every file).
   */
  private dependencyChanged(located: LocatedFile): boolean {
    const folderCache = this.cache?.opened(located.folder.path);
    if (!folderCache?.dependsOn(located.path)) return false;
    this.connection.sendNotification(RescanNeeded);
    return true;
  }

  private async fileChangedOnDisk(uri: string, type: FileChangeType): Promise<void> {
    const located = this.folders.locate(uri);
    if (!located) return;
    if (this.dependencyChanged(located)) return;
    if (type === FileChangeType.Deleted) {
      // A deleted directory arrives as one event for the directory itself.
      const known = this.knownFiles.get(located.folder.uri) ?? new Set<string>();
      const gone = [...known].filter(rel => rel === located.rel || rel.startsWith(`${located.rel}/`));
      for (const rel of gone) {
        const file = this.folders.locateRel(located.folder, rel);
        this.keepInCache(file, undefined, undefined);
        this.send(file, undefined, undefined);
      }
      return;
    }
    if (!this.isTestFile(located) || this.documents.get(uri)) return;
    await this.discoverFromDisk(located);
  }

  private async discoverFromDisk(located: LocatedFile): Promise<void> {
    await this.ensureParser();
    let read: ReturnType<typeof readTestFile>;
    try {
      read = readTestFile(located.path);
    } catch {
      this.keepInCache(located, undefined, undefined);
      this.send(located, undefined, undefined); // gone or unreadable: no tests there now
      return;
    }
    const { discovery } = discoverFile(this.parserNow(), located.rel, read.text, this.settings.discovery);
    this.keepInCache(located, discovery, read.read);
    this.send(located, undefined, discovery, read.text);
  }

  /**
   * Tells the client a file's tests (none when `discovery` is undefined) and publishes its marker problems;
   * a listing with dynamic items goes out resolved when its `text` was resolved before, else is resolved in
   * the background.
   */
  private send(located: LocatedFile, documentUri: string | undefined, discovery: FileDiscovery | undefined, text?: string): void {
    const listing = discovery && this.exact.offer(located.folder, located.path, discovery, text);
    this.publish(located, documentUri, listing);
  }

  private publish(located: LocatedFile, documentUri: string | undefined, discovery: FileDiscovery | undefined): void {
    const uri = documentUri ?? this.documentUri(located.folder.path, located.rel);
    let known = this.knownFiles.get(located.folder.uri);
    if (!known) this.knownFiles.set(located.folder.uri, (known = new Set()));
    if (discovery) known.add(located.rel);
    else known.delete(located.rel);
    this.sendTests(located.folder, located.rel, discovery?.tests ?? [], uri);
    this.publishDiagnostics(uri, discovery?.diagnostics ?? []);
  }

  private publishDiagnostics(uri: string, diagnostics: MarkerDiagnostic[]): void {
    if (!diagnostics.length && !this.urisWithDiagnostics.has(uri)) return;
    if (diagnostics.length) this.urisWithDiagnostics.add(uri);
    else this.urisWithDiagnostics.delete(uri);
    this.connection.sendDiagnostics({ uri, diagnostics: diagnostics.map(toLspDiagnostic) });
  }

  /** An open document's own URI when there is one (the editor's spelling), else a file URI. */
  private documentUri(folderPath: string, rel: string): string {
    const file = this.folders.fileUri(folderPath, rel);
    return this.documents.all().find(d => this.folders.locate(d.uri)?.path === file.path)?.uri ?? file.uri;
  }

  private isTestFile(located: LocatedFile): boolean {
    return isTestFile(located.rel, this.settings.discovery);
  }

  private ensureParser(): Promise<PythonTestParser> {
    this.parser ??= PythonTestParser.create();
    return this.parser.then(parser => (this.readyParser = parser));
  }

  private parserNow(): PythonTestParser {
    if (!this.readyParser) throw new Error('the Python parser is not loaded yet');
    return this.readyParser;
  }

  /** Runs a handler so that its failure is logged, never fatal to the server. */
  private guard(what: string, handler: () => unknown): void {
    try {
      const result = handler();
      if (result instanceof Promise) result.catch(err => this.connection.console.error(`distest: ${what} failed: ${describeError(err)}`));
    } catch (err) {
      this.connection.console.error(`distest: ${what} failed: ${describeError(err)}`);
    }
  }
}

function toLspRange(range: SourceRange) {
  return { start: { line: range.line - 1, character: range.column }, end: { line: range.endLine - 1, character: range.endColumn } };
}

function toLspDiagnostic(diagnostic: MarkerDiagnostic): Diagnostic {
  return { range: toLspRange(diagnostic.range), severity: SEVERITY[diagnostic.severity], source: 'distest', message: diagnostic.message };
}

function contains(range: SourceRange, line: number, column: number): boolean {
  if (line < range.line || line > range.endLine) return false;
  if (line === range.line && column < range.column) return false;
  return !(line === range.endLine && column > range.endColumn);
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

// This bundle also runs as discovery's helper thread for large folders (see discoverFolder's workerScript).
if (!serveDiscoveryWorker()) {
  // The extension started this process without NODE_EXTRA_CA_CERTS (discoveryClient.ts).
  restoreExtraCaCerts();
  new DiscoveryServer(createConnection(), new PrestartedHelpers(__filename)).listen();
}
