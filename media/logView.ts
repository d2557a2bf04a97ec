// The Rank Logs webview: xterm terminals for one rank, all ranks merged with a rank gutter, or a grid
// of ranks. Lines arrive in acknowledged batches (src/core/ranks/logFeed.ts); each rank's recent lines
// are kept here too, so switching rank or view rewrites from memory at once.
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon, type ISearchOptions } from '@xterm/addon-search';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal, type IDisposable, type ILink } from '@xterm/xterm';
import { fileLinks } from '../src/core/logs/fileLinks';
import './logView.css';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };
const vscode = acquireVsCodeApi();

// The page's CSP admits style elements only with its nonce; xterm's DOM renderer creates two (theme
// colours, cell size), so every <style> this document creates gets the nonce the script was loaded with.
const styleNonce = (document.currentScript as HTMLScriptElement | null)?.nonce ?? '';
const createElement: typeof document.createElement = document.createElement.bind(document);
document.createElement = ((tag: string, options?: ElementCreationOptions) => {
  const element = createElement(tag, options);
  if (element instanceof HTMLStyleElement) element.nonce = styleNonce;
  return element;
}) as typeof document.createElement;

type Wire = [rank: number, stderr: 0 | 1, text: string];
interface RankInfo { rank: number | null; host?: string; pid?: number; state: string; lines: number; stderrLines: number }
type HostMessage =
  | { type: 'run'; title: string; running: boolean; ranks: RankInfo[]; select?: number | null }
  | { type: 'ranks'; running: boolean; ranks: RankInfo[] }
  | { type: 'lines'; batch: number; skipped: number; lines: Wire[] }
  | { type: 'select'; rank: number };
type Mode = 'single' | 'merged' | 'grid';

/** Lines kept here across all ranks; each rank keeps an equal share, within these bounds. */
const KEEP_TOTAL = 200_000;
const KEEP_PER_RANK_MAX = 5000;
const KEEP_PER_RANK_MIN = 500;
const KEEP_MERGED = 20_000;
const GRID_SIZES = [2, 4, 6, 9, 12, 16];
const COLOURS = [36, 33, 35, 32, 34, 91, 96, 93];
/** Marks stderr lines (after the gutter); red, and what "first error" looks for besides error text. */
const STDERR_MARK = '▌';
const ERROR_TEXT = /Traceback \(most recent call last\)|^E\s|Error\b|FAILED|MPI_ABORT|[Ss]ignal|Segmentation fault|\bAborted\b/;
/** The same as a search addon regex over terminal rows: a stderr mark or error text. */
const ERROR_SEARCH = `${STDERR_MARK}|Traceback \\(most recent call last\\)|^(\\[r\\d+\\] )?E\\s|Error\\b|FAILED|MPI_ABORT|[Ss]ignal|Segmentation fault|\\bAborted\\b`;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

let ranks: RankInfo[] = [];
let mode: Mode = 'single';
let selected = 0;
let gridSize = 4;
let follow = true;
let title = '';
let running = false;
const byRank = new Map<number, Wire[]>();
let merged: Wire[] = [];

interface Pane {
  rank: number | 'all';
  term: Terminal;
  element: HTMLElement;
  titleEl: HTMLElement | null;
  fit: FitAddon;
  search: SearchAddon;
  /** The search addon's result position after the last find in this pane. */
  results: { index: number; count: number };
  disposables: IDisposable[];
}
let panes: Pane[] = [];
/** The pane the last find or error jump landed in. */
let activePane = 0;

const toolbar = document.getElementById('toolbar') as HTMLElement;
const statusEl = document.getElementById('status') as HTMLElement;
const host = document.getElementById('terminals') as HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  return Object.assign(createElement(tag), props);
}
function button(text: string, titleText: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { textContent: text, title: titleText });
  b.addEventListener('click', onClick);
  toolbar.append(b);
  return b;
}
function labelled<T extends HTMLElement>(element: T, label: string): T {
  element.setAttribute('aria-label', label);
  element.title = label;
  toolbar.append(element);
  return element;
}

const modeButtons = new Map<Mode, HTMLButtonElement>();
for (const [m, label] of [['single', 'Rank'], ['merged', 'Merged'], ['grid', 'Grid']] as const) {
  modeButtons.set(m, button(label, `${label} view`, () => setMode(m)));
}
const picker = labelled(el('select'), 'Rank');
picker.addEventListener('change', () => {
  selected = Number(picker.value);
  if (mode === 'merged') mode = 'single';
  void render();
});
const gridPicker = labelled(el('select'), 'Grid size');
gridPicker.append(...GRID_SIZES.map(n => el('option', { value: String(n), textContent: `${n} ranks` })));
gridPicker.value = String(gridSize);
gridPicker.addEventListener('change', () => { gridSize = Number(gridPicker.value); void render(); });
const search = labelled(el('input', { type: 'search', placeholder: 'Search all ranks' }), 'Search all ranks');
search.addEventListener('keydown', e => {
  if (e.key === 'Enter') void find(e.shiftKey);
  if (e.key === 'Escape') clearSearch();
});
button('Prev', 'Find previous (Shift+Enter)', () => void find(true));
button('Next', 'Find next (Enter), then in the next rank', () => void find(false));
button('First error', 'Jump to the earliest error or stderr line', () => void jumpToFirstError());
button('Copy', 'Copy the selection, or the shown rank\'s kept lines', () => copy());
button('Clear', 'Clear the view (the log stays on disk: Open as document)', () => { byRank.clear(); merged = []; void render(); });
const followButton = button('Follow', 'Follow new output, or pause scrolling', () => setFollow(!follow));
button('Open as document', 'Open the selected rank\'s whole log as a document', () => vscode.postMessage({ type: 'document', rank: selected }));

window.addEventListener('keydown', e => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
    e.preventDefault();
    search.focus();
    search.select();
  }
});

function setFollow(on: boolean): void {
  follow = on;
  followButton.setAttribute('aria-pressed', String(on));
  if (on) for (const p of panes) p.term.scrollToBottom();
}

const rankLabel = (rank: number) => (rank < 0 ? 'mpirun' : `r${rank}`);
const infoOf = (rank: number) => ranks.find(r => (r.rank ?? -1) === rank);
const knownRanks = () => [...new Set([...ranks.map(r => r.rank ?? -1), ...byRank.keys()])].sort((a, b) => a - b);

function describe(rank: number): string {
  const info = infoOf(rank);
  if (rank < 0) return 'mpirun (launcher)';
  return `${rankLabel(rank)} · ${info?.host ?? 'host not known yet'} · ${info?.state ?? 'waiting'}`;
}

function refreshPicker(): void {
  const list = knownRanks();
  if (!list.includes(selected) && list.length) selected = list.find(r => r >= 0) ?? list[0];
  picker.replaceChildren(...list.map(r => el('option', { value: String(r), textContent: describe(r), className: infoOf(r)?.state ?? '' })));
  picker.value = String(selected);
  gridPicker.hidden = mode !== 'grid';
  const bad = ranks.filter(r => ['failed', 'crashed', 'hung'].includes(r.state)).length;
  statusEl.textContent = `${title}${running ? ' (running)' : ''} · ${ranks.filter(r => r.rank !== null).length} ranks${bad ? ` · ${bad} not passed` : ''}`;
  for (const pane of panes) {
    if (!pane.titleEl || pane.rank === 'all') continue;
    pane.titleEl.textContent = describe(pane.rank);
    pane.titleEl.className = `pane-title ${infoOf(pane.rank)?.state ?? ''}`;
  }
}

/** The line as written to a terminal: stderr marked in red, merged lines with a coloured rank gutter. */
function format(line: Wire, gutter: boolean): string {
  const [rank, stderr, text] = line;
  const label = gutter ? `\x1b[${rank < 0 ? 2 : COLOURS[rank % COLOURS.length]}m[${rankLabel(rank)}]\x1b[0m ` : '';
  return stderr ? `${label}\x1b[31m${STDERR_MARK}\x1b[0m${text}\x1b[0m\r\n` : `${label}${text}\x1b[0m\r\n`;
}

/** `File "x.py", line 3` and `x.py:3` open the file at the line in the editor (mapped from a remote root there). */
function fileLinkProvider(term: Terminal): IDisposable {
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

const keepPerRank = () => Math.min(KEEP_PER_RANK_MAX, Math.max(KEEP_PER_RANK_MIN, Math.floor(KEEP_TOTAL / Math.max(1, byRank.size))));

function newPane(rank: number | 'all', withTitle: boolean): Pane {
  const element = el('div', { className: 'pane' });
  const titleEl = withTitle ? el('div', { className: 'pane-title', title: 'Show this rank alone' }) : null;
  if (titleEl && rank !== 'all') titleEl.addEventListener('click', () => { selected = rank; setMode('single'); });
  const termEl = el('div', { className: 'term' });
  if (titleEl) element.append(titleEl);
  element.append(termEl);
  host.append(element);
  const style = getComputedStyle(document.body);
  const term = new Terminal({
    scrollback: rank === 'all' ? KEEP_MERGED : keepPerRank(), disableStdin: true, fontSize: 12, fontFamily: 'monospace',
    // The search addon highlights every match through decorations.
    allowProposedApi: true,
    theme: { background: style.getPropertyValue('--vscode-panel-background') || '#1e1e1e', foreground: style.getPropertyValue('--vscode-foreground') || '#cccccc' },
  });
  const fit = new FitAddon();
  const searchAddon = new SearchAddon();
  term.loadAddon(fit);
  term.loadAddon(searchAddon);
  term.loadAddon(new WebLinksAddon((_event, url) => vscode.postMessage({ type: 'openUrl', url })));
  term.open(termEl);
  const pane: Pane = { rank, term, element: termEl, titleEl, fit, search: searchAddon, results: { index: -1, count: 0 }, disposables: [] };
  pane.disposables.push(
    fileLinkProvider(term),
    searchAddon.onDidChangeResults(r => { pane.results = { index: r.resultIndex, count: r.resultCount }; }),
  );
  return pane;
}

function linesOf(rank: number | 'all'): Wire[] {
  return rank === 'all' ? merged : byRank.get(rank) ?? [];
}

/** The ranks the grid shows: gridSize consecutive ones, from the selected rank when enough follow it. */
function gridRanks(): number[] {
  const list = knownRanks().filter(r => r >= 0);
  const start = Math.max(0, Math.min(list.indexOf(selected), list.length - gridSize));
  return list.slice(start, start + gridSize);
}

/** Rebuilds the terminals for the mode and writes the kept lines; resolves once xterm has parsed them. */
function render(): Promise<void> {
  for (const p of panes) {
    for (const d of p.disposables) d.dispose();
    p.term.dispose();
  }
  host.replaceChildren();
  for (const [m, b] of modeButtons) b.setAttribute('aria-pressed', String(m === mode));
  const wanted: (number | 'all')[] = mode === 'merged' ? ['all'] : mode === 'single' ? [selected] : gridRanks();
  const columns = mode === 'grid' ? Math.ceil(Math.sqrt(Math.max(2, wanted.length))) : 1;
  host.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
  panes = wanted.map(r => newPane(r, mode !== 'merged'));
  activePane = 0;
  const written = panes.map(p => {
    p.fit.fit();
    return new Promise<void>(resolve => p.term.write(linesOf(p.rank).map(l => format(l, p.rank === 'all')).join(''), resolve));
  });
  refreshPicker();
  return Promise.all(written).then(() => undefined);
}

function setMode(next: Mode): void {
  mode = next;
  void render();
}

function keep(list: Wire[], line: Wire, max: number): void {
  list.push(line);
  if (list.length > max * 1.25) list.splice(0, list.length - max);
}

function onLines(message: { batch: number; skipped: number; lines: Wire[] }): void {
  const out = new Map<Pane, string[]>();
  if (message.skipped) {
    message.lines.unshift([-1, 0, `\x1b[2m… ${message.skipped} lines skipped while the view caught up (Open as document has them all)\x1b[0m`]);
  }
  const perRank = keepPerRank();
  for (const line of message.lines) {
    let list = byRank.get(line[0]);
    if (!list) byRank.set(line[0], (list = []));
    keep(list, line, perRank);
    keep(merged, line, KEEP_MERGED);
    for (const p of panes) {
      if (p.rank !== 'all' && p.rank !== line[0]) continue;
      let chunks = out.get(p);
      if (!chunks) out.set(p, (chunks = []));
      chunks.push(format(line, p.rank === 'all'));
    }
  }
  // Acknowledged once xterm has parsed what it got: the host sends no more than the view keeps up with.
  let waiting = out.size;
  const ack = () => vscode.postMessage({ type: 'ack', batch: message.batch });
  if (!waiting) ack();
  for (const [p, chunks] of out) {
    p.term.write(chunks.join(''), () => {
      if (follow) p.term.scrollToBottom();
      if (--waiting === 0) ack();
    });
  }
  if (picker.options.length !== knownRanks().length) refreshPicker();
  if (mode === 'grid' && panes.length < Math.min(gridSize, knownRanks().filter(r => r >= 0).length)) void render();
}

const searchOptions = (): ISearchOptions => ({
  decorations: { matchBackground: '#515c6a', matchOverviewRuler: '#d186167e', activeMatchBackground: '#a8ac94', activeMatchColorOverviewRuler: '#a0a0a0' },
});
/** Ranks whose kept lines hold the query (as the search addon matches: ignoring case). */
function ranksHolding(query: string): number[] {
  const needle = query.toLowerCase();
  return [...byRank.keys()].sort((a, b) => a - b).filter(r => (byRank.get(r) ?? []).some(l => l[2].replace(ANSI, '').toLowerCase().includes(needle)));
}

/**
 * Finds the query with the search addon in the shown terminals; past the last match of one it goes on
 * in the next pane, and in the rank view in the next rank whose kept lines hold it.
 */
async function find(backwards: boolean): Promise<void> {
  const query = search.value;
  if (!query || !panes.length) return;
  const step = backwards ? -1 : 1;
  const pane = panes[activePane];
  const atEdge = pane.results.count > 0 && pane.results.index === (backwards ? 0 : pane.results.count - 1);
  if (!atEdge && findIn(pane, query, backwards)) return;
  if (mode === 'single') {
    const holding = ranksHolding(query).filter(r => r !== selected);
    const after = holding.filter(r => (backwards ? r < selected : r > selected));
    const next = backwards ? (after.at(-1) ?? holding.at(-1)) : (after[0] ?? holding[0]);
    if (next !== undefined) {
      selected = next;
      await render();
      findIn(panes[0], query, backwards);
      return;
    }
  } else {
    for (let k = 1; k <= panes.length; k++) {
      const index = (activePane + step * k + panes.length * k) % panes.length;
      panes[index].term.clearSelection();
      if (findIn(panes[index], query, backwards)) return;
    }
  }
  if (atEdge) findIn(pane, query, backwards);
  else statusEl.textContent = `"${query}" is not in the kept lines (Open as document searches the whole log)`;
}

function findIn(pane: Pane, query: string, backwards: boolean): boolean {
  const found = backwards ? pane.search.findPrevious(query, searchOptions()) : pane.search.findNext(query, searchOptions());
  if (!found) return false;
  activePane = panes.indexOf(pane);
  setFollow(false);
  const where = pane.rank === 'all' ? 'merged view' : describe(pane.rank);
  statusEl.textContent = `${where}: match ${pane.results.index + 1} of ${pane.results.count}`;
  return true;
}

function clearSearch(): void {
  for (const p of panes) p.search.clearDecorations();
}

/**
 * The earliest error line of a rank among the kept ones (an stderr line or error text), shown and
 * selected; the launcher's own lines only when no rank has one, since its complaints (a rank killed,
 * a job step aborted) follow from the ranks' and may reach us first through their own pipe.
 */
async function jumpToFirstError(): Promise<void> {
  const isError = (l: Wire) => l[1] === 1 || ERROR_TEXT.test(l[2].replace(ANSI, ''));
  const first = merged.find(l => l[0] >= 0 && isError(l)) ?? merged.find(isError);
  if (!first) {
    statusEl.textContent = 'no error lines in the kept output';
    return;
  }
  if (mode !== 'merged' && !panes.some(p => p.rank === first[0])) {
    // The rank alone, or the grid starting at it.
    selected = first[0];
    await render();
  }
  const pane = panes.find(p => p.rank === first[0]) ?? panes[0];
  pane.term.clearSelection();
  pane.search.clearDecorations();
  // From the top, so the first match is the earliest.
  if (!pane.search.findNext(ERROR_SEARCH, { regex: true })) return;
  activePane = panes.indexOf(pane);
  setFollow(false);
  statusEl.textContent = `first error: ${pane.rank === 'all' ? 'merged view' : describe(pane.rank)}`;
}

function copy(): void {
  const pane = panes[activePane] ?? panes[0];
  if (!pane) return;
  const text = pane.term.hasSelection()
    ? pane.term.getSelection()
    : linesOf(pane.rank).map(l => `${pane.rank === 'all' ? `[${rankLabel(l[0])}] ` : ''}${l[2].replace(ANSI, '')}`).join('\n');
  navigator.clipboard.writeText(text).then(() => { statusEl.textContent = 'copied'; }, (err: unknown) => { statusEl.textContent = `copy failed: ${String(err)}`; });
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'run':
      title = m.title;
      running = m.running;
      ranks = m.ranks;
      byRank.clear();
      merged = [];
      if (typeof m.select === 'number') {
        selected = m.select;
        mode = 'single';
      }
      void render();
      break;
    case 'ranks':
      running = m.running;
      ranks = m.ranks;
      if (mode === 'grid' && panes.length < Math.min(gridSize, knownRanks().filter(r => r >= 0).length)) void render();
      else refreshPicker();
      break;
    case 'lines':
      onLines(m);
      break;
    case 'select':
      selected = m.rank;
      mode = 'single';
      void render();
      break;
  }
});

// Panes follow the view's size (the panel resized, the grid re-laid out).
let fitScheduled = false;
new ResizeObserver(() => {
  if (fitScheduled) return;
  fitScheduled = true;
  requestAnimationFrame(() => {
    fitScheduled = false;
    for (const p of panes) p.fit.fit();
  });
}).observe(host);
setFollow(true);
void render();
vscode.postMessage({ type: 'ready' });
