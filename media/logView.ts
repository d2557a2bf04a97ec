// The Rank Logs webview: xterm terminals for one rank, all ranks merged with a rank gutter, or a grid
// of ranks. Lines arrive in acknowledged batches (src/core/ranks/logFeed.ts); each rank's recent lines
// are kept here too, so switching rank or view rewrites from memory at once.
import { Terminal, type IDisposable, type ILink } from '@xterm/xterm';
import { fileLinks } from '../src/core/ranks/fileLinks';
import './logView.css';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };
const vscode = acquireVsCodeApi();

type Wire = [rank: number, stderr: 0 | 1, text: string];
interface RankInfo { rank: number | null; host?: string; pid?: number; state: string; lines: number; stderrLines: number }
type HostMessage =
  | { type: 'run'; title: string; running: boolean; ranks: RankInfo[]; select?: number | null }
  | { type: 'ranks'; running: boolean; ranks: RankInfo[] }
  | { type: 'lines'; batch: number; skipped: number; lines: Wire[] }
  | { type: 'select'; rank: number };
type Mode = 'single' | 'merged' | 'grid';

/** Lines kept per rank and merged; older ones stay in the document view (Open as document). */
const KEEP_PER_RANK = 5000;
const KEEP_MERGED = 20000;
const GRID_MAX = 16;
const COLOURS = [36, 33, 35, 32, 34, 91, 96, 93];
const ERROR_LINE = /Traceback \(most recent call last\)|^E\s|Error\b|FAILED|MPI_ABORT|[Ss]ignal|Segmentation fault|\bAborted\b/;

let ranks: RankInfo[] = [];
let mode: Mode = 'single';
let selected = 0;
let follow = true;
let title = '';
let running = false;
const byRank = new Map<number, Wire[]>();
let merged: Wire[] = [];
interface Pane { rank: number | 'all'; term: Terminal; element: HTMLElement; titleEl: HTMLElement | null; links: IDisposable }
let panes: Pane[] = [];

const toolbar = document.getElementById('toolbar') as HTMLElement;
const statusEl = document.getElementById('status') as HTMLElement;
const host = document.getElementById('terminals') as HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & Record<string, unknown> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  Object.assign(e, props);
  return e;
}
const button = (text: string, titleText: string, onClick: () => void) => {
  const b = el('button', { textContent: text, title: titleText });
  b.addEventListener('click', onClick);
  toolbar.append(b);
  return b;
};

const modeButtons = new Map<Mode, HTMLButtonElement>();
for (const [m, label] of [['single', 'Rank'], ['merged', 'Merged'], ['grid', 'Grid']] as const) {
  modeButtons.set(m, button(label, `${label} view`, () => setMode(m)));
}
const picker = el('select', { title: 'Rank' });
picker.setAttribute('aria-label', 'Rank');
picker.addEventListener('change', () => { selected = Number(picker.value); if (mode !== 'single') setMode('single'); else render(); });
toolbar.append(picker);
const search = el('input', { type: 'search', placeholder: 'Search all ranks' });
search.setAttribute('aria-label', 'Search all ranks');
search.addEventListener('keydown', e => { if (e.key === 'Enter') find(search.value, e.shiftKey); });
toolbar.append(search);
button('Next', 'Find next (Enter)', () => find(search.value, false));
button('First error', 'Jump to the first error line', () => jumpToFirstError());
button('Copy', 'Copy the selection, or the shown rank\'s log', () => copy());
button('Clear', 'Clear the view (the log stays on disk)', () => { byRank.clear(); merged = []; render(); });
const followButton = button('Follow', 'Follow new output / pause scrolling', () => { follow = !follow; followButton.setAttribute('aria-pressed', String(follow)); if (follow) for (const p of panes) p.term.scrollToBottom(); });
followButton.setAttribute('aria-pressed', 'true');
button('Open as document', 'Open the selected rank\'s whole log as a document', () => vscode.postMessage({ type: 'document', rank: selected }));

const rankLabel = (rank: number) => (rank < 0 ? 'mpirun' : `r${rank}`);
const infoOf = (rank: number) => ranks.find(r => (r.rank ?? -1) === rank);

function describe(rank: number): string {
  const info = infoOf(rank);
  return `${rankLabel(rank)}${info?.host ? ` · ${info.host}` : ''} · ${info?.state ?? 'waiting'}`;
}

function refreshPicker(): void {
  const known = new Set<number>([...ranks.map(r => r.rank ?? -1), ...byRank.keys()]);
  const list = [...known].sort((a, b) => a - b);
  picker.replaceChildren(...list.map(r => el('option', { value: String(r), textContent: describe(r), selected: r === selected })));
  const bad = ranks.filter(r => ['failed', 'crashed', 'hung'].includes(r.state)).length;
  statusEl.textContent = `${title}${running ? ' — running' : ''} · ${ranks.filter(r => r.rank !== null).length} ranks${bad ? ` · ${bad} not passed` : ''}`;
  for (const pane of panes) if (pane.titleEl && pane.rank !== 'all') {
    pane.titleEl.textContent = describe(pane.rank);
    pane.titleEl.className = `pane-title ${infoOf(pane.rank)?.state ?? ''}`;
  }
}

/** The line as written to a terminal: stderr red-marked, merged lines with a coloured rank gutter. */
function format(line: Wire, gutter: boolean): string {
  const [rank, stderr, text] = line;
  const label = gutter ? `\x1b[${rank < 0 ? 2 : COLOURS[rank % COLOURS.length]}m[${rankLabel(rank)}]\x1b[0m ` : '';
  return stderr ? `${label}\x1b[31m▌\x1b[0m${text}\x1b[0m\r\n` : `${label}${text}\r\n`;
}

function measureCell(): { width: number; height: number } {
  const probe = el('span', { textContent: 'W'.repeat(50) });
  probe.style.cssText = 'position:absolute;visibility:hidden;font-family:monospace;font-size:12px;line-height:normal';
  document.body.append(probe);
  const rect = probe.getBoundingClientRect();
  probe.remove();
  return { width: rect.width / 50 || 7, height: Math.ceil(rect.height * 1.05) || 15 };
}
const cell = measureCell();

/** Sizes a terminal to its element (what the fit addon does). */
function fit(pane: Pane): void {
  const box = pane.element.getBoundingClientRect();
  const cols = Math.max(20, Math.floor((box.width - 14) / cell.width));
  const rows = Math.max(3, Math.floor(box.height / cell.height));
  if (cols !== pane.term.cols || rows !== pane.term.rows) pane.term.resize(cols, rows);
}

/** `File "x.py", line 3` and `x.py:3` open the file at the line in the editor. */
function linkProvider(term: Terminal): IDisposable {
  return term.registerLinkProvider({
    provideLinks(y, callback) {
      const text = term.buffer.active.getLine(y - 1)?.translateToString(true) ?? '';
      const links: ILink[] = fileLinks(text).map(link => ({
        range: { start: { x: link.start + 1, y }, end: { x: link.start + link.length, y } },
        text: text.slice(link.start, link.start + link.length),
        activate: () => vscode.postMessage({ type: 'open', file: link.file, line: link.line }),
      }));
      callback(links.length ? links : undefined);
    },
  });
}

function newPane(rank: number | 'all', withTitle: boolean): Pane {
  const element = el('div', { className: 'pane' });
  const titleEl = withTitle ? el('div', { className: 'pane-title' }) : null;
  const termEl = el('div', { className: 'term' });
  if (titleEl) element.append(titleEl);
  element.append(termEl);
  host.append(element);
  const style = getComputedStyle(document.body);
  const term = new Terminal({
    scrollback: rank === 'all' ? KEEP_MERGED : KEEP_PER_RANK, convertEol: false, disableStdin: true, fontSize: 12, fontFamily: 'monospace',
    theme: { background: style.getPropertyValue('--vscode-panel-background') || '#1e1e1e', foreground: style.getPropertyValue('--vscode-foreground') || '#cccccc' },
  });
  term.open(termEl);
  const pane: Pane = { rank, term, element: termEl, titleEl, links: linkProvider(term) };
  return pane;
}

function linesOf(rank: number | 'all'): Wire[] {
  return rank === 'all' ? merged : byRank.get(rank) ?? [];
}

/** Rebuilds the terminals for the mode and writes the kept lines. */
function render(): void {
  for (const p of panes) { p.links.dispose(); p.term.dispose(); }
  host.replaceChildren();
  for (const [m, b] of modeButtons) b.setAttribute('aria-pressed', String(m === mode));
  let wanted: (number | 'all')[];
  if (mode === 'merged') wanted = ['all'];
  else if (mode === 'single') wanted = [selected];
  else wanted = [...new Set([...ranks.map(r => r.rank ?? -1), ...byRank.keys()])].filter(r => r >= 0).sort((a, b) => a - b).slice(0, GRID_MAX);
  const columns = mode === 'grid' ? Math.ceil(Math.sqrt(Math.max(2, wanted.length))) : 1;
  host.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
  host.style.gridAutoRows = 'minmax(0, 1fr)';
  panes = wanted.map(r => newPane(r, mode !== 'merged'));
  for (const p of panes) {
    fit(p);
    p.term.write(linesOf(p.rank).map(l => format(l, p.rank === 'all')).join(''));
  }
  refreshPicker();
}

function setMode(next: Mode): void {
  mode = next;
  render();
}

function keep(list: Wire[], line: Wire, max: number): void {
  list.push(line);
  if (list.length > max * 1.25) list.splice(0, list.length - max);
}

function onLines(message: { batch: number; skipped: number; lines: Wire[] }): void {
  const out = new Map<Pane, string[]>();
  if (message.skipped) {
    const note: Wire = [-1, 0, `\x1b[2m… ${message.skipped} lines skipped while the view caught up (Open as document has them all)\x1b[0m`];
    message.lines.unshift(note);
  }
  for (const line of message.lines) {
    let list = byRank.get(line[0]);
    if (!list) { byRank.set(line[0], (list = [])); }
    keep(list, line, KEEP_PER_RANK);
    keep(merged, line, KEEP_MERGED);
    for (const p of panes) {
      if (p.rank !== 'all' && p.rank !== line[0]) continue;
      let chunks = out.get(p);
      if (!chunks) out.set(p, (chunks = []));
      chunks.push(format(line, p.rank === 'all'));
    }
  }
  let waiting = out.size;
  const ack = () => vscode.postMessage({ type: 'ack', batch: message.batch });
  if (!waiting) ack();
  for (const [p, chunks] of out) {
    p.term.write(chunks.join(''), () => {
      if (follow) p.term.scrollToBottom();
      if (--waiting === 0) ack();
    });
  }
  if (picker.options.length !== new Set([...ranks.map(r => r.rank ?? -1), ...byRank.keys()]).size) refreshPicker();
}

let lastFind: { pane: number; row: number } = { pane: 0, row: -1 };

/** Finds the query in the shown terminals; in the rank view, other ranks are searched too. */
function find(query: string, backwards: boolean): void {
  if (!query) return;
  const needle = query.toLowerCase();
  for (let k = 0; k < panes.length; k++) {
    const index = (lastFind.pane + k) % panes.length;
    const buffer = panes[index].term.buffer.active;
    const from = index === lastFind.pane ? lastFind.row : -1;
    for (let step = 1; step <= buffer.length; step++) {
      const row = backwards ? (from - step + buffer.length * 2) % buffer.length : from + step;
      if (row >= buffer.length || row < 0) break;
      const column = buffer.getLine(row)?.translateToString(true).toLowerCase().indexOf(needle) ?? -1;
      if (column !== -1) return reveal(index, row, column, query.length);
    }
  }
  if (mode === 'single') {
    const other = [...byRank.keys()].sort((a, b) => a - b).find(r => r !== selected && (byRank.get(r) ?? []).some(l => l[2].toLowerCase().includes(needle)));
    if (other !== undefined) {
      selected = other;
      lastFind = { pane: 0, row: -1 };
      render();
      return find(query, backwards);
    }
  }
  statusEl.textContent = `"${query}" not found in the kept lines (Open as document searches the whole log)`;
}

function reveal(index: number, row: number, column: number, length: number): void {
  lastFind = { pane: index, row };
  follow = false;
  followButton.setAttribute('aria-pressed', 'false');
  const term = panes[index].term;
  term.scrollToLine(Math.max(0, row - Math.floor(term.rows / 2)));
  term.select(column, row, length);
  statusEl.textContent = `${panes[index].rank === 'all' ? 'merged' : describe(panes[index].rank as number)}: line ${row + 1}`;
}

function jumpToFirstError(): void {
  const candidates = mode === 'single' ? [selected] : [...byRank.keys()].sort((a, b) => a - b);
  for (const rank of candidates) {
    const line = (byRank.get(rank) ?? []).find(l => l[1] === 1 || ERROR_LINE.test(l[2]));
    if (!line) continue;
    if (mode === 'single' && rank !== selected) { selected = rank; render(); }
    lastFind = { pane: 0, row: -1 };
    // eslint-disable-next-line no-control-regex
    return find(line[2].replace(/\x1b\[[0-9;]*m/g, '').trim().slice(0, 60), false);
  }
  statusEl.textContent = 'no error lines in the kept output';
}

function copy(): void {
  const pane = panes[lastFind.pane] ?? panes[0];
  const text = pane?.term.hasSelection() ? pane.term.getSelection() : linesOf(pane?.rank ?? selected).map(l => l[2]).join('\n');
  void navigator.clipboard.writeText(text).then(() => { statusEl.textContent = 'copied'; }, err => { statusEl.textContent = `copy failed: ${String(err)}`; });
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'run':
      title = m.title; running = m.running; ranks = m.ranks;
      byRank.clear(); merged = [];
      if (typeof m.select === 'number') { selected = m.select; mode = 'single'; }
      render();
      break;
    case 'ranks':
      running = m.running; ranks = m.ranks;
      if (mode === 'grid' && panes.length < Math.min(GRID_MAX, ranks.filter(r => r.rank !== null).length)) render();
      else refreshPicker();
      break;
    case 'lines':
      onLines(m);
      break;
    case 'select':
      selected = m.rank; mode = 'single'; render();
      break;
  }
});
let resizeTimer: number | undefined;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = window.setTimeout(() => panes.forEach(fit), 100); });
render();
vscode.postMessage({ type: 'ready' });
