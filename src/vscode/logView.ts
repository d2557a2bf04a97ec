import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { fileLinks } from '../core/logs/fileLinks';
import { LogFeed } from '../core/logs/logFeed';
import { rankKey, type LogStore, type RunLog } from '../core/logs/logStore';
import { editorSettings } from './settings';

export const LOG_SCHEME = 'distest-log';
/** The Rank Logs view in the panel area (package.json `views`). */
export const LOG_VIEW_ID = 'distest.rankLogs';
/** Recent output sent when the view opens on a run: what the feed takes without dropping. */
const ATTACH_BYTES = 512 * 1024;

/** Messages the view sends. */
type ViewMessage =
  | { type: 'ready' }
  | { type: 'ack'; batch: number }
  | { type: 'open'; file: string; line: number }
  | { type: 'openUrl'; url: string }
  | { type: 'document'; rank: number };

/** `distest-log:/<run id>/rank-<rank>.distest-log`: the extension gives the document its language. */
export function logUri(run: RunLog, rank: number | null): vscode.Uri {
  return vscode.Uri.from({ scheme: LOG_SCHEME, path: `/${run.id}/rank-${rankKey(rank)}.distest-log` });
}

/** The run and rank a `distest-log:` URI names. */
function parseLogUri(store: LogStore, uri: vscode.Uri): { runId: string; run: RunLog | undefined; rank: number | null } {
  const [, runId, file] = uri.path.split('/');
  const key = file.replace(/^rank-/, '').replace(/\.distest-log$/, '');
  return { runId, run: store.runs().find(r => r.id === runId), rank: key === 'launcher' ? null : Number(key) };
}

/** The Rank Logs webview view: the latest run's per-rank logs, following it live. */
export class LogViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | null = null;
  private run: RunLog | null = null;
  private readonly feed: LogFeed;
  private runSubscriptions: vscode.Disposable[] = [];
  private viewSubscriptions: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  /** A rank to select once the view is ready. */
  private pendingSelect: number | null = null;

  constructor(private readonly context: vscode.ExtensionContext, private readonly store: LogStore) {
    this.feed = new LogFeed({ post: message => void this.view?.webview.postMessage(message) });
    this.disposables.push(toDisposable(store.onRun(run => {
      if (this.view) this.attach(run);
    })));
  }

  /** Opens (or reveals) the view on the latest run, with `rank` selected when given. */
  async show(rank?: number): Promise<void> {
    if (rank !== undefined) this.pendingSelect = rank;
    if (!this.view) {
      // Resolving the view sends 'ready', which attaches the run and applies the selection.
      await vscode.commands.executeCommand(`${LOG_VIEW_ID}.focus`);
      return;
    }
    this.view.show(true);
    if (rank !== undefined) {
      this.pendingSelect = null;
      void this.view.webview.postMessage({ type: 'select', rank });
    }
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    this.viewSubscriptions = [
      view.webview.onDidReceiveMessage((m: ViewMessage) => this.onMessage(m)),
      view.onDidDispose(() => {
        this.view = null;
        this.feed.reset();
        for (const d of [...this.runSubscriptions, ...this.viewSubscriptions]) d.dispose();
        this.runSubscriptions = [];
      }),
    ];
  }

  dispose(): void {
    this.feed.dispose();
    for (const d of [...this.runSubscriptions, ...this.viewSubscriptions, ...this.disposables]) d.dispose();
  }

  private onMessage(message: ViewMessage): void {
    switch (message.type) {
      case 'ready': {
        const run = this.store.latest();
        if (run) this.attach(run);
        else void this.view?.webview.postMessage({ type: 'run', title: 'No run yet: run a test to see its ranks here.', running: false, ranks: [] });
        break;
      }
      case 'ack':
        this.feed.ack(message.batch);
        break;
      case 'open':
        if (this.run) void openSource(this.run, message.file, message.line);
        break;
      case 'openUrl':
        if (/^https?:\/\//i.test(message.url)) void vscode.env.openExternal(vscode.Uri.parse(message.url));
        break;
      case 'document':
        if (this.run) void openRankDocument(this.run, message.rank < 0 ? null : message.rank);
        break;
    }
  }

  /** Shows `run` from its recent lines on, then live. */
  private attach(run: RunLog): void {
    for (const d of this.runSubscriptions) d.dispose();
    this.run = run;
    this.feed.reset();
    const post = (m: unknown) => void this.view?.webview.postMessage(m);
    post({ type: 'run', title: run.title, running: run.running, ranks: run.rankInfos(), select: this.pendingSelect });
    this.pendingSelect = null;
    for (const line of run.recent('all', ATTACH_BYTES)) this.feed.push(line.rank, line.stream, line.text);
    this.feed.flush();
    let scheduled = false;
    this.runSubscriptions = [
      toDisposable(run.onLine(line => this.feed.push(line.rank, line.stream, line.text))),
      // Rank states change in bursts (every hello, every result): one update per 100 ms.
      toDisposable(run.onChange(() => {
        if (scheduled) return;
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          post({ type: 'ranks', running: run.running, ranks: run.rankInfos() });
        }, 100);
      })),
    ];
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'logView.js'));
    const css = webview.asWebviewUri(vscode.Uri.joinPath(media, 'xterm.css'));
    const viewCss = webview.asWebviewUri(vscode.Uri.joinPath(media, 'logView.css'));
    // Style elements need the nonce (the view script gives it to the two xterm creates); style
    // attributes stay allowed because xterm colours 24-bit colour cells with them (docs/ARCHITECTURE.md).
    const csp = [
      "default-src 'none'", `style-src ${webview.cspSource} 'nonce-${nonce}'`, "style-src-attr 'unsafe-inline'",
      `font-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css.toString()}"><link rel="stylesheet" href="${viewCss.toString()}"><title>Rank Logs</title></head>
<body><div id="toolbar" role="toolbar" aria-label="Rank log controls"></div><div id="status" aria-live="polite"></div><div id="terminals"></div>
<script nonce="${nonce}" src="${script.toString()}"></script></body></html>`;
  }
}

function toDisposable(d: { dispose(): void }): vscode.Disposable {
  return new vscode.Disposable(() => d.dispose());
}

async function openSource(run: RunLog, file: string, line: number): Promise<void> {
  const local = run.localPath(file);
  if (!local) return;
  const position = new vscode.Position(Math.max(0, line - 1), 0);
  await vscode.window.showTextDocument(vscode.Uri.file(local), { selection: new vscode.Range(position, position), viewColumn: vscode.ViewColumn.One });
}

async function openRankDocument(run: RunLog, rank: number | null): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(logUri(run, rank));
  await vscode.window.showTextDocument(doc, { preview: false });
}

/** Strips ANSI escape sequences: the document shows plain text, the grammar colours it. */
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** `distest-log:` documents: a rank's log read back from the run's spill file. */
export class RankLogDocuments implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider {
  private readonly changes = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changes.event;

  constructor(private readonly store: LogStore) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const { runId, run, rank } = parseLogUri(this.store, uri);
    if (!run) return `distest: the log of run ${runId} is no longer kept (distest.logs.keepRuns).\n`;
    return (await run.readRank(rank)).replace(ANSI, '');
  }

  provideDocumentLinks(document: vscode.TextDocument): vscode.DocumentLink[] {
    const { run } = parseLogUri(this.store, document.uri);
    const links: vscode.DocumentLink[] = [];
    for (let i = 0; run && i < document.lineCount; i++) {
      const text = document.lineAt(i).text;
      for (const link of fileLinks(text)) {
        const local = run.localPath(link.file);
        if (!local) continue;
        const range = new vscode.Range(i, link.start, i, link.start + link.length);
        links.push(new vscode.DocumentLink(range, vscode.Uri.file(local).with({ fragment: `L${link.line}` })));
      }
    }
    return links;
  }

  dispose(): void {
    this.changes.dispose();
  }
}

/** The view, the document scheme, its links, the command and the keepRuns setting; runs come from the test runner. */
export function registerLogView(context: vscode.ExtensionContext, store: LogStore): LogViewProvider {
  const provider = new LogViewProvider(context, store);
  const documents = new RankLogDocuments(store);
  context.subscriptions.push(
    provider, documents,
    vscode.window.registerWebviewViewProvider(LOG_VIEW_ID, provider, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, documents),
    vscode.languages.registerDocumentLinkProvider({ scheme: LOG_SCHEME }, documents),
    vscode.commands.registerCommand('distest.showRankLogs', (arg?: vscode.TestItem | { test?: vscode.TestItem }) => {
      const item = arg && 'id' in arg ? arg : arg?.test;
      return provider.show(item ? firstBadRank(store, item.id) : undefined);
    }),
    vscode.workspace.onDidChangeConfiguration(e => {
      if (e.affectsConfiguration('distest.logs.keepRuns')) void store.setKeepRuns(editorSettings().logs.keepRuns);
    }),
  );
  return provider;
}

/** The rank to show first for a test: its first failed/crashed/hung rank in the latest run that ran it. */
function firstBadRank(store: LogStore, testId: string): number | undefined {
  for (const run of [...store.runs()].reverse()) {
    const states = run.testStates.get(testId);
    if (!states) continue;
    for (const [rank, state] of [...states].sort((a, b) => a[0] - b[0])) if (state !== 'passed') return rank;
    return undefined;
  }
  return undefined;
}
