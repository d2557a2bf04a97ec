import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as vscode from 'vscode';
import { rankLogFile, rankLogsIn, type RunLog } from '../core/logs/logStore';
import { ProjectPaths } from '../core/projectPaths';
import type { Placement } from '../core/run/placement';
import { StudyHistory } from '../core/study/history';
import { ms } from '../core/study/report';
import { parseRankList, repeatProgress, scaleCsv, type Iteration } from '../core/study/stats';
import { runRepeat, runScale, StudyError, type IterationLabel, type KeptLogs, type Study } from '../core/study/study';
import { testName, type TestResult, type TestSpec } from '../core/types';
import { editorSettings } from './settings';
import { logResult, presentRanks, toTestMessage, type RunDeps } from './testRunner';
import type { FolderTestTree } from './testTree';

type Kind = 'repeat' | 'scale';

/**
 * Repeat… and Scale…: run profiles and test-row commands that run a study through core/study (each
 * iteration a run session on the picked allocation), show it in the test run and a notification,
 * store it in the workspace's history (the "distest: Studies" view) and open its chart.
 */
export class Studies implements vscode.Disposable {
  private readonly history: StudyHistory;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly tree = new StudyTree(() => this.history.list());
  private panel: StudyPanel | undefined;

  constructor(private readonly context: vscode.ExtensionContext, private readonly deps: RunDeps) {
    const storage = (context.storageUri ?? context.globalStorageUri).fsPath;
    this.history = new StudyHistory(path.join(storage, 'studies.json'), editorSettings(undefined, deps.log, deps.workspace).studies.keep);
    for (const kind of ['repeat', 'scale'] as const) {
      deps.controller.createRunProfile(kind === 'repeat' ? 'Repeat…' : 'Scale…', vscode.TestRunProfileKind.Run, (request, token) => this.run(kind, request, token), false);
    }
    this.disposables.push(
      vscode.window.registerTreeDataProvider('distest.studies', this.tree),
      vscode.commands.registerCommand('distest.repeatTest', (item?: vscode.TestItem) => this.fromCommand('repeat', item)),
      vscode.commands.registerCommand('distest.scaleTest', (item?: vscode.TestItem) => this.fromCommand('scale', item)),
      vscode.commands.registerCommand('distest.openStudy', (key: string) => this.open(key)),
      vscode.commands.registerCommand('distest.deleteStudy', (node?: { key: string }) => {
        if (node?.key) this.history.remove(node.key);
        this.tree.refresh();
      }),
    );
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  private async fromCommand(kind: Kind, item: vscode.TestItem | undefined): Promise<void> {
    if (!item) {
      void vscode.window.showInformationMessage(`distest: ${kind === 'repeat' ? 'Repeat…' : 'Scale…'} runs from a test's context menu in the Testing view`);
      return;
    }
    const source = new vscode.CancellationTokenSource();
    try {
      await this.run(kind, new vscode.TestRunRequest([item]), source.token);
    } finally {
      source.dispose();
    }
  }

  /** Asks what the study should be, runs it, stores and shows it. */
  private async run(kind: Kind, request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const found = this.selection(request);
    if ('error' in found) {
      void vscode.window.showErrorMessage(`distest: ${found.error}`);
      return;
    }
    const { tree, items, specs } = found;
    if (kind === 'repeat' && specs.length > 1) {
      void vscode.window.showErrorMessage(`distest: Repeat… runs one test; ${specs[0].groupId ?? specs[0].id} has ${specs.length} rank counts: pick one of them`);
      return;
    }
    if (!this.deps.workspace.isTrusted) {
      void vscode.window.showErrorMessage('distest does not run tests in an untrusted folder.');
      return;
    }
    const settings = editorSettings(tree.folder.uri, this.deps.log, this.deps.workspace);
    const ask = kind === 'repeat' ? await askRepeat(settings.repeat) : await askScale(settings.scale.repeat);
    if (!ask || token.isCancellationRequested) return;
    const run = this.deps.controller.createTestRun(new vscode.TestRunRequest(items), `${kind === 'repeat' ? 'Repeat' : 'Scale'}: ${specs[0].groupId ?? specs[0].id}`);
    const abort = new AbortController();
    const subscription = token.onCancellationRequested(() => abort.abort());
    let finished!: () => void;
    this.deps.active?.track(abort, new Promise<void>(resolve => (finished = resolve)));
    this.deps.allocation.startRun();
    const byId = new Map(items.map(item => [tree.specOf(item)!.id, item]));
    const problems = { failing: false };
    try {
      const study = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `distest ${kind}: ${specs[0].groupId ?? specs[0].id}`, cancellable: true }, async (progress, cancel) => {
        cancel.onCancellationRequested(() => abort.abort());
        const options = {
          root: tree.folder.uri.fsPath,
          settings,
          allocation: this.deps.allocation.allocationFor(tree.folder, settings),
          signal: abort.signal,
          progress: (text: string) => {
            progress.report({ message: text });
            run.appendOutput(`distest: ${text}\r\n`);
          },
          iterationEvents: (label: IterationLabel) => this.iterationEvents(run, tree, byId, label, problems),
        };
        if (ask.kind === 'repeat') return runRepeat(specs[0], { count: ask.count, untilFail: ask.untilFail }, options);
        return runScale(specs, { ranks: ask.ranks, repeat: ask.repeat, weak: ask.weak }, options);
      });
      const key = this.history.add(study);
      this.tree.refresh();
      for (const item of items) {
        const failed = study.kind === 'repeat' ? study.outcomes.failed + study.outcomes.errored : study.points.reduce((n, p) => n + p.samples.filter(s => s.state !== 'passed').length, 0);
        if (failed) run.failed(item, new vscode.TestMessage(study.kind === 'repeat' ? `${repeatProgress(study.runs, study.requested)} — see the study` : `${failed} runs of the study did not pass`));
        else run.passed(item);
      }
      await this.open(key);
    } catch (err) {
      const text = err instanceof StudyError ? err.message : String(err);
      run.appendOutput(`distest: ${text}\r\n`);
      for (const item of items) run.errored(item, new vscode.TestMessage(text));
      void vscode.window.showErrorMessage(`distest: ${text}`);
    } finally {
      subscription.dispose();
      run.end();
      finished();
    }
  }

  /** The one test (or one test's rank-count ids) a study runs. */
  private selection(request: vscode.TestRunRequest): { tree: FolderTestTree; items: vscode.TestItem[]; specs: TestSpec[] } | { error: string } {
    const include = request.include ?? [];
    const tree = this.deps.trees().find(t => include.length && include.every(i => t.owns(i)));
    if (!tree) return { error: 'a study runs one test: pick a test in the Testing view' };
    const items = tree.leaves(include, new Set((request.exclude ?? []).map(i => i.id)));
    const specs = items.map(i => tree.specOf(i)).filter((s): s is TestSpec => s !== undefined);
    const groups = new Set(specs.map(s => s.groupId ?? s.id));
    if (!specs.length || groups.size !== 1) return { error: `a study runs one test; the selection holds ${specs.length}` };
    return { tree, items, specs };
  }

  /**
   * One iteration in the test run: its output, rank logs (kept for failing iterations), Problems (the
   * last failing iteration's: `problems.failing` once one failed, and later passing ones leave them).
   */
  private iterationEvents(run: vscode.TestRun, tree: FolderTestTree, byId: Map<string, vscode.TestItem>, label: IterationLabel, problems: { failing: boolean }) {
    let runLog: RunLog | undefined;
    const title = `iteration ${label.iteration}${label.planned ? `/${label.planned}` : ''}${label.ranks ? ` · ${label.ranks} ranks` : ''}`;
    let paths = new ProjectPaths(tree.folder.uri.fsPath);
    const fileUri = (file: string) => vscode.Uri.file(paths.localPath(file));
    return {
      placed: async (placement: Placement, placed: ProjectPaths) => {
        paths = placed;
        run.appendOutput(`\x1b[1mdistest: ${title}\x1b[0m\r\n`);
        runLog = await this.deps.logs?.startRun(`${tree.folder.name}: ${[...byId.keys()][0]} (${title})`, { local: tree.folder.uri.fsPath, run: placement.root }).catch(() => undefined);
      },
      ...presentRanks(run, byId, () => runLog),
      result: (result: TestResult) => {
        const failing = result.state === 'failed' || result.state === 'errored';
        if (failing || !problems.failing) this.deps.faults?.update(tree.itemId(result.id), result, fileUri);
        problems.failing ||= failing;
        const item = byId.get(result.id);
        logResult(runLog, item?.id ?? result.id, result);
        const time = result.durationMs ? ` in ${ms(result.durationMs)}` : '';
        run.appendOutput(`distest: ${title}: ${result.state}${time}\r\n`, undefined, item);
        if (item && result.state !== 'passed') for (const m of result.messages) run.appendOutput(`  ${toTestMessage(m, fileUri).message.toString().split('\n')[0]}\r\n`, undefined, item);
      },
      done: async (_result: TestResult, iteration: Iteration) => {
        runLog?.close();
        // A passed iteration's logs would push failing ones out of the kept runs: only failures stay.
        if (runLog && iteration.state === 'passed') await this.deps.logs?.discard(runLog);
        else if (runLog) iteration.logDir = runLog.dir;
      },
    };
  }

  private async open(key: string): Promise<void> {
    const study = this.history.get(key);
    if (!study) return;
    this.panel ??= new StudyPanel(this.context, () => (this.panel = undefined));
    this.panel.show(study, this.history.previous(study, key));
  }
}

type RepeatAsk = { kind: 'repeat'; count: number; untilFail: boolean };
type ScaleAsk = { kind: 'scale'; ranks?: number[]; repeat: number; weak: boolean };

async function askRepeat(defaults: { count: number; untilFail: boolean }): Promise<RepeatAsk | undefined> {
  const count = await vscode.window.showInputBox({
    title: 'distest: Repeat', prompt: 'How many times to launch the test', value: String(defaults.count),
    validateInput: v => (/^\d+$/.test(v.trim()) && Number(v) >= 1 ? undefined : 'a whole number ≥ 1'),
  });
  if (count === undefined) return undefined;
  const stop = { label: 'Stop at the first failure', untilFail: true };
  const all = { label: `Run all ${count.trim()} iterations`, untilFail: false };
  const pick = await vscode.window.showQuickPick(defaults.untilFail ? [stop, all] : [all, stop], { title: 'distest: Repeat' });
  return pick ? { kind: 'repeat', count: Number(count), untilFail: pick.untilFail } : undefined;
}

async function askScale(defaultRepeat: number): Promise<ScaleAsk | undefined> {
  const ranks = await vscode.window.showInputBox({
    title: 'distest: Scale', prompt: 'Rank counts (empty: 1, 2, 4, … up to the allocation\'s slots)', placeHolder: '1,2,4,8', value: '',
    validateInput: v => { if (!v.trim()) return undefined; try { parseRankList(v); return undefined; } catch (err) { return (err as Error).message; } },
  });
  if (ranks === undefined) return undefined;
  const repeat = await vscode.window.showInputBox({
    title: 'distest: Scale', prompt: 'Runs per rank count', value: String(defaultRepeat),
    validateInput: v => (/^\d+$/.test(v.trim()) && Number(v) >= 1 ? undefined : 'a whole number ≥ 1'),
  });
  if (repeat === undefined) return undefined;
  const strong = { label: 'Strong scaling', description: 'the same problem on more ranks: speedup and efficiency', weak: false };
  const weak = { label: 'Weak scaling', description: 'the problem grows with the ranks: time ratio', weak: true };
  const pick = await vscode.window.showQuickPick([strong, weak], { title: 'distest: Scale' });
  return pick ? { kind: 'scale', ...(ranks.trim() ? { ranks: parseRankList(ranks) } : {}), repeat: Number(repeat), weak: pick.weak } : undefined;
}

/** The "distest: Studies" view: the workspace's stored studies, newest first. */
class StudyTree implements vscode.TreeDataProvider<{ key: string; study: Study }> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly list: () => { key: string; study: Study }[]) {}

  refresh(): void {
    this.changed.fire();
  }

  getChildren(): { key: string; study: Study }[] {
    return this.list().reverse();
  }

  getTreeItem(node: { key: string; study: Study }): vscode.TreeItem {
    const s = node.study;
    const item = new vscode.TreeItem(`${s.kind === 'repeat' ? 'Repeat' : 'Scale'}: ${s.id}`);
    item.description = s.kind === 'repeat'
      ? `${repeatProgress(s.runs, null)} · ${new Date(s.startedAt).toLocaleString()}`
      : `${s.points.map(p => p.ranks).join(',')} ranks · ${new Date(s.startedAt).toLocaleString()}`;
    item.iconPath = new vscode.ThemeIcon(s.kind === 'repeat' ? 'sync' : 'graph-line');
    item.command = { command: 'distest.openStudy', title: 'Open Study', arguments: [node.key] };
    item.contextValue = 'study';
    return item;
  }
}

/** The chart webview: one panel, showing the study last opened. */
class StudyPanel {
  private readonly panel: vscode.WebviewPanel;
  private study: Study | undefined;
  private previous: Study | undefined;
  private ready = false;

  constructor(context: vscode.ExtensionContext, onDispose: () => void) {
    const media = vscode.Uri.joinPath(context.extensionUri, 'dist', 'media');
    this.panel = vscode.window.createWebviewPanel('distest.study', 'distest study', vscode.ViewColumn.Active, { enableScripts: true, localResourceRoots: [media], retainContextWhenHidden: true });
    const nonce = randomBytes(16).toString('base64');
    const webview = this.panel.webview;
    const csp = ["default-src 'none'", `img-src ${webview.cspSource} data:`, `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`].join('; ');
    webview.html = `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<style nonce="${nonce}">${STYLE}</style></head>
<body><div id="root">Loading…</div>
<script nonce="${nonce}" src="${webview.asWebviewUri(vscode.Uri.joinPath(media, 'studyView.js')).toString()}"></script></body></html>`;
    webview.onDidReceiveMessage((m: { type: string; data?: string; file?: string; line?: number; iteration?: number; rank?: number | null; ms?: number }) => void this.onMessage(m));
    this.panel.onDidDispose(onDispose);
  }

  show(study: Study, previous: Study | undefined): void {
    this.study = study;
    this.previous = previous;
    this.panel.title = `${study.kind === 'repeat' ? 'Repeat' : 'Scale'}: ${testName(study.id)}`;
    this.panel.reveal();
    if (this.ready) this.post(study);
  }

  /** The study, the one to compare it with, and which rank logs of its iterations are still on disk. */
  private post(study: Study): void {
    const logs: KeptLogs = {};
    if (study.kind === 'repeat') for (const r of study.runs) if (r.logDir) logs[r.iteration] = rankLogsIn(r.logDir);
    void this.panel.webview.postMessage({ type: 'study', study, previous: this.previous, logs });
  }

  dispose(): void {
    this.panel.dispose();
  }

  private async onMessage(m: { type: string; data?: string; file?: string; line?: number; iteration?: number; rank?: number | null }): Promise<void> {
    const study = this.study;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const base = (study?.id.split('::')[0] ?? 'study').split('/').pop()?.replace(/\.py$/, '') ?? 'study';
    switch (m.type) {
      case 'ready':
        this.ready = true;
        if (study) this.post(study);
        return;
      case 'csv': {
        if (study?.kind !== 'scale') return;
        const target = await vscode.window.showSaveDialog({ defaultUri: folder && vscode.Uri.joinPath(folder, `${base}-scaling.csv`), filters: { CSV: ['csv'] } });
        if (target) await vscode.workspace.fs.writeFile(target, Buffer.from(scaleCsv(study.points, study.weak)));
        return;
      }
      case 'png': {
        if (!m.data?.startsWith('data:image/png;base64,')) return;
        const target = await vscode.window.showSaveDialog({ defaultUri: folder && vscode.Uri.joinPath(folder, `${base}-${study?.kind ?? 'study'}.png`), filters: { PNG: ['png'] } });
        if (target) await vscode.workspace.fs.writeFile(target, Buffer.from(m.data.slice('data:image/png;base64,'.length), 'base64'));
        return;
      }
      case 'open': {
        // Stack frames name absolute paths, messages and groups workspace-relative ones.
        const uri = m.file && (path.isAbsolute(m.file) ? vscode.Uri.file(m.file) : folder && vscode.Uri.joinPath(folder, m.file));
        if (uri) await vscode.window.showTextDocument(uri, { selection: new vscode.Range((m.line ?? 1) - 1, 0, (m.line ?? 1) - 1, 0) });
        return;
      }
      case 'logs': {
        // One rank's log (rank: a number, or null for the launcher's), or every rank's (no rank).
        const dir = study?.kind === 'repeat' ? study.runs.find(r => r.iteration === m.iteration)?.logDir : undefined;
        const ranks = dir ? rankLogsIn(dir).filter(r => m.rank === undefined || r === m.rank) : [];
        for (const [i, rank] of ranks.entries()) await vscode.window.showTextDocument(vscode.Uri.file(rankLogFile(dir!, rank)), { preview: false, preserveFocus: i < ranks.length - 1 });
        if (!ranks.length) void vscode.window.showInformationMessage('distest: the logs of that iteration are no longer kept (distest.logs.keepRuns)');
        return;
      }
    }
  }
}

const STYLE = `
body { color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 16px 16px; }
h2 { margin-bottom: 0; } .sub, .note { opacity: .8; }
.toolbar { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 4px 10px; cursor: pointer; }
button:hover { background: var(--vscode-button-hoverBackground); }
.chart { position: relative; height: 360px; max-width: 900px; margin: 8px 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--vscode-editorWidget-border, #8884); padding: 3px 8px; text-align: right; }
#summary th, #summary td, #groups td { text-align: left; }
a { color: var(--vscode-textLink-foreground); }
details.iteration { margin: 6px 0; } details.iteration > summary { cursor: pointer; }
.fault { margin: 4px 0 4px 16px; } .core { font-family: var(--vscode-editor-font-family); }
details.stack { margin: 2px 0; } details.stack > summary { cursor: pointer; } details.stack ol { margin: 2px 0; font-family: var(--vscode-editor-font-family); font-size: .9em; }
ul.messages { margin: 4px 0; }
`;
