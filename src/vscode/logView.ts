import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { fileLinks } from '../core/ranks/fileLinks';
import { LogFeed } from '../core/ranks/logFeed';
import { rankKey, type LogStore, type RankInfo, type RunLog } from '../core/ranks/logStore';

export const LOG_SCHEME = 'distest-log';
export const LOG_LANGUAGE = 'distest-log';
/** Recent output sent when the view opens on a run: what the feed takes without dropping. */
const ATTACH_BYTES = 512 * 1024;

/** Messages the view sends. */
type ViewMessage =
  | { type: 'ready' }
  | { type: 'ack'; batch: number }
  | { type: 'open'; file: string; line: number }
  | { type: 'document'; rank: number };

/** `distest-log:/<run id>/rank-<rank>.distest-log`: the extension gives the document its language. */
export function logUri(run: RunLog, rank: number | null): vscode.Uri {
  return vscode.Uri.from({ scheme: LOG_SCHEME, path: `/${run.id}/rank-${rankKey(rank)}.distest-log` });
}


/** The run's per-rank logs as one webview panel following the latest run live. */
export class LogViewPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private run: RunLog | null = null;
  private readonly feed: LogFeed;
  private runSubscriptions: vscode.Disposable[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private pendingSelect: number | null = null;

  constructor(private readonly context: vscode.ExtensionContext, private readonly store: LogStore, private readonly root: () => vscode.Uri | undefined) {
    this.feed = new LogFeed({ post: message => void this.panel?.webview.postMessage(message) });
    this.disposables.push(toDisposable(store.onRun(run => {
      if (this.panel) this.attach(run);
    })));
  }

  /** Opens (or reveals) the panel on the latest run, with `rank` selected when given. */
  show(rank?: number): void {
    if (!this.panel) this.panel = this.createPanel();
    else this.panel.reveal(undefined, true);
    if (rank !== undefined) {
      this.pendingSelect = rank;
      void this.panel.webview.postMessage({ type: 'select', rank });
    }
  }

  dispose(): void {
    this.panel?.dispose();
    this.feed.dispose();
    for (const d of [...this.runSubscriptions, ...this.disposables]) d.dispose();
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'media');
    const panel = vscode.window.createWebviewPanel('distest.rankLogs', 'Rank Logs', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [media],
    });
    panel.webview.html = this.html(panel.webview, media);
    panel.webview.onDidReceiveMessage((m: ViewMessage) => this.onMessage(m), undefined, this.disposables);
    panel.onDidDispose(() => {
      this.panel = null;
      this.feed.reset();
      for (const d of this.runSubscriptions) d.dispose();
      this.runSubscriptions = [];
    }, undefined, this.disposables);
    return panel;
  }

  private onMessage(message: ViewMessage): void {
    switch (message.type) {
      case 'ready': {
        const run = this.store.latest();
        if (run) this.attach(run);
        else void this.panel?.webview.postMessage({ type: 'run', title: 'No run yet: run a test to see its ranks here.', running: false, ranks: [] });
        break;
      }
      case 'ack':
        this.feed.ack(message.batch);
        break;
      case 'open':
        void this.openSource(message.file, message.line);
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
    const post = (m: unknown) => void this.panel?.webview.postMessage(m);
    post({ type: 'run', title: run.title, running: run.running, ranks: this.ranksOf(run), select: this.pendingSelect });
    this.pendingSelect = null;
    for (const line of run.recent('all', ATTACH_BYTES)) this.feed.push(line.rank, line.stream, line.text);
    this.feed.flush();
    let scheduled = false;
    this.runSubscriptions = [
      toDisposable(run.onLine(line => this.feed.push(line.rank, line.stream, line.text))),
      // Rank states change in bursts (every hello, every result): one update per tick.
      toDisposable(run.onChange(() => {
        if (scheduled) return;
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          post({ type: 'ranks', running: run.running, ranks: this.ranksOf(run) });
        }, 100);
      })),
    ];
  }

  private ranksOf(run: RunLog): RankInfo[] {
    return run.rankInfos();
  }

  private async openSource(file: string, line: number): Promise<void> {
    const uri = resolveSource(file, this.root());
    if (!uri) return;
    const position = new vscode.Position(Math.max(0, line - 1), 0);
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(position, position), viewColumn: vscode.ViewColumn.One });
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'logView.js'));
    const css = webview.asWebviewUri(vscode.Uri.joinPath(media, 'xterm.css'));
    const viewCss = webview.asWebviewUri(vscode.Uri.joinPath(media, 'logView.css'));
    // xterm's DOM renderer sizes its rows through <style> elements it creates at run time, which a
    // nonce cannot cover: styles allow inline, scripts only the nonce.
    const csp = `default-src 'none'; style-src ${webview.cspSource} 'unsafe-inline'; font-src ${webview.cspSource}; script-src 'nonce-${nonce}';`;
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

/** A path from the log, absolute or relative to the workspace folder; undefined when it names nothing usable. */
function resolveSource(file: string, root: vscode.Uri | undefined): vscode.Uri | undefined {
  if (path.isAbsolute(file)) return vscode.Uri.file(file);
  return root ? vscode.Uri.joinPath(root, file) : undefined;
}

async function openRankDocument(run: RunLog, rank: number | null): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(logUri(run, rank));
  await vscode.window.showTextDocument(doc, { preview: false });
}

/** Strips ANSI escape sequences: the document shows plain text, the grammar colours it. */
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** `distest-log:` documents: a rank's whole log read back from the run's spill file. */
export class RankLogDocuments implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider {
  private readonly changes = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changes.event;

  constructor(private readonly store: LogStore, private readonly root: () => vscode.Uri | undefined) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const [, runId, file] = uri.path.split('/');
    const run = this.store.runs().find(r => r.id === runId);
    if (!run) return `distest: the log of run ${runId} is no longer kept (distest.logs.keepRuns).\n`;
    const key = file.replace(/^rank-/, '').replace(/\.distest-log$/, '');
    const text = await run.readRank(key === 'launcher' ? null : Number(key));
    return text.replace(ANSI, '');
  }

  provideDocumentLinks(document: vscode.TextDocument): vscode.DocumentLink[] {
    const links: vscode.DocumentLink[] = [];
    const root = this.root();
    for (let i = 0; i < document.lineCount; i++) {
      const text = document.lineAt(i).text;
      for (const link of fileLinks(text)) {
        const target = resolveSource(link.file, root);
        if (!target) continue;
        const range = new vscode.Range(i, link.start, i, link.start + link.length);
        links.push(new vscode.DocumentLink(range, target.with({ fragment: `L${link.line}` })));
      }
    }
    return links;
  }

  dispose(): void {
    this.changes.dispose();
  }
}

/** The panel, the document scheme, its links and the commands; the store gets runs from the test runner. */
export function registerLogView(context: vscode.ExtensionContext, store: LogStore): LogViewPanel {
  const root = () => vscode.workspace.workspaceFolders?.[0]?.uri;
  const panel = new LogViewPanel(context, store, root);
  const documents = new RankLogDocuments(store, root);
  context.subscriptions.push(
    panel, documents,
    vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, documents),
    vscode.languages.registerDocumentLinkProvider({ scheme: LOG_SCHEME }, documents),
    vscode.commands.registerCommand('distest.showRankLogs', (arg?: vscode.TestItem | { test?: vscode.TestItem }) => {
      const item = arg && 'id' in arg ? arg : arg?.test;
      panel.show(item ? firstBadRank(store, item.id) : undefined);
    }),
  );
  return panel;
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
