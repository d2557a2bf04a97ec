// The study webview: a scaling table and chart (Chart.js, log axes, ideal line, min–max bars from
// the repeats, the previous study as an overlay), or a repeat summary; CSV and PNG export go to the
// extension, which asks where to save. Fed the same study JSON the CLI writes.
import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, LogarithmicScale, PointElement, ScatterController, Title, Tooltip, type Plugin } from 'chart.js';
import type { KeptLogs, RepeatStudy, ScaleStudy, Study } from '../src/core/study/study.js';
import type { Iteration, ScalePoint } from '../src/core/study/stats.js';
import type { Fault } from '../src/core/types.js';

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, LogarithmicScale, CategoryScale, Legend, Title, Tooltip);

interface VsCodeApi { postMessage(message: unknown): void }
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

const root = document.getElementById('root') as HTMLElement;
let chart: Chart | undefined;
let current: { study: Study; previous?: Study } | undefined;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, children: (Node | string)[] = []): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
}

const ms = (v: number): string => (v < 1000 ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : `${(v / 1000).toFixed(2)} s`);
const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
const cssVar = (name: string, fallback: string) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

/** Min–max bars of each point (`bars` on a dataset: [min, max] per point). */
const errorBars: Plugin = {
  id: 'distestErrorBars',
  afterDatasetsDraw(c) {
    const ctx = c.ctx;
    c.data.datasets.forEach((ds, i) => {
      const bars = (ds as unknown as { bars?: [number, number][] }).bars;
      if (!bars || !c.isDatasetVisible(i)) return;
      const meta = c.getDatasetMeta(i);
      ctx.save();
      ctx.strokeStyle = String(ds.borderColor);
      ctx.lineWidth = 1.5;
      meta.data.forEach((pt, j) => {
        const bar = bars[j];
        if (!bar) return;
        const y0 = c.scales.y.getPixelForValue(bar[0]);
        const y1 = c.scales.y.getPixelForValue(bar[1]);
        ctx.beginPath();
        ctx.moveTo(pt.x, y0);
        ctx.lineTo(pt.x, y1);
        ctx.moveTo(pt.x - 4, y0);
        ctx.lineTo(pt.x + 4, y0);
        ctx.moveTo(pt.x - 4, y1);
        ctx.lineTo(pt.x + 4, y1);
        ctx.stroke();
      });
      ctx.restore();
    });
  },
};

/** The chart's colours: the theme's on screen; dark on white in an exported PNG, which goes on a report's page. */
interface Colours { background: string; text: string; grid: string }
const themeColours = (): Colours => ({
  background: cssVar('--vscode-editor-background', '#ffffff'), text: cssVar('--vscode-editor-foreground', '#333'), grid: cssVar('--vscode-editorWidget-border', '#ddd'),
});
const PRINT_COLOURS: Colours = { background: '#ffffff', text: '#222222', grid: '#dddddd' };
let colours = themeColours();

/** The background under the chart (a canvas is transparent, and the PNG would be too). */
const background: Plugin = {
  id: 'distestBackground',
  beforeDraw(c) {
    c.ctx.save();
    c.ctx.fillStyle = colours.background;
    c.ctx.fillRect(0, 0, c.width, c.height);
    c.ctx.restore();
  },
};

/** Gives the chart's axes, ticks, grid and legend `next`'s colours and redraws it (synchronously: no animation). */
function paint(c: Chart, next: Colours): void {
  colours = next;
  for (const axis of Object.values(c.options.scales ?? {})) {
    if (!axis) continue;
    Object.assign(axis.ticks ?? {}, { color: next.text });
    Object.assign(axis.grid ?? {}, { color: next.grid });
    if ('title' in axis) Object.assign(axis.title ?? {}, { color: next.text });
  }
  if (c.options.plugins?.legend?.labels) c.options.plugins.legend.labels.color = next.text;
  c.update('none');
}

/** The chart as a PNG in the print colours; the view keeps the theme's. */
function exportPng(): string | undefined {
  if (!chart) return undefined;
  paint(chart, PRINT_COLOURS);
  const data = chart.toBase64Image('image/png');
  paint(chart, themeColours());
  return data;
}

const timed = (points: ScalePoint[]) => points.filter(p => p.bodyMs);

function scaleView(study: ScaleStudy, previous: ScaleStudy | undefined): void {
  const head = ['ranks', 'median', 'min', 'max', 'launch overhead', study.weak ? 'time ratio' : 'speedup', 'efficiency', 'passed'];
  const table = el('table', { id: 'table' }, [
    el('thead', {}, [el('tr', {}, head.map(h => el('th', {}, [h])))]),
    el('tbody', {}, study.points.map(p => el('tr', {}, [
      String(p.ranks), p.bodyMs ? ms(p.bodyMs.median) : '—', p.bodyMs ? ms(p.bodyMs.min) : '—', p.bodyMs ? ms(p.bodyMs.max) : '—',
      p.overheadMs !== null ? ms(p.overheadMs) : '—', (study.weak ? p.timeRatio : p.speedup)?.toFixed(2) ?? '—', pct(p.efficiency),
      `${p.samples.filter(s => s.state === 'passed').length}/${p.samples.length}`,
    ].map(c => el('td', {}, [c]))))),
  ]);
  const compare = el('input', { type: 'checkbox', id: 'compare', checked: previous !== undefined, disabled: previous === undefined });
  const canvas = el('canvas', { id: 'chart' });
  root.replaceChildren(
    el('h2', {}, [`${study.id}`]),
    el('p', { className: 'sub' }, [`${study.weak ? 'Weak' : 'Strong'} scaling on ${study.allocation}, ${study.repeat} run${study.repeat === 1 ? '' : 's'} per count, ${new Date(study.startedAt).toLocaleString()}${study.cancelled ? ' (cancelled)' : ''}`]),
    el('div', { className: 'toolbar' }, [
      el('button', { id: 'csv', onclick: () => vscode.postMessage({ type: 'csv' }) }, ['Export CSV']),
      el('button', { id: 'png', onclick: () => vscode.postMessage({ type: 'png', data: exportPng() }) }, ['Export PNG']),
      el('label', {}, [compare, previous ? ` compare with the study of ${new Date(previous.startedAt).toLocaleString()}` : ' no earlier study of this test to compare with']),
    ]),
    el('div', { className: 'chart' }, [canvas]),
    table,
    ...study.notes.map(n => el('p', { className: 'note' }, [n])),
  );
  colours = themeColours();
  const { text: fg, grid } = colours;
  const pts = timed(study.points);
  const base = pts[0];
  const ideal = (n: number) => (base?.bodyMs ? (study.weak ? base.bodyMs.median : (base.bodyMs.median * base.ranks) / n) : NaN);
  const datasets = [
    { label: 'measured (median, min–max)', data: pts.map(p => ({ x: p.ranks, y: p.bodyMs!.median })), bars: pts.map(p => [p.bodyMs!.min, p.bodyMs!.max]), borderColor: '#3794ff', backgroundColor: '#3794ff', showLine: true, pointRadius: 4 },
    { label: study.weak ? 'ideal (constant time)' : 'ideal (linear speedup)', data: study.points.map(p => ({ x: p.ranks, y: ideal(p.ranks) })), borderColor: '#888', backgroundColor: '#888', borderDash: [6, 4], showLine: true, pointRadius: 0 },
    ...(previous ? [{ label: `previous (${new Date(previous.startedAt).toLocaleString()})`, data: timed(previous.points).map(p => ({ x: p.ranks, y: p.bodyMs!.median })), bars: timed(previous.points).map(p => [p.bodyMs!.min, p.bodyMs!.max]), borderColor: '#d18616', backgroundColor: '#d18616', showLine: true, pointRadius: 3, hidden: !compare.checked }] : []),
  ];
  chart?.destroy();
  chart = new Chart(canvas, {
    type: 'scatter',
    data: { datasets: datasets as never },
    plugins: [background, errorBars],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: {
          type: 'logarithmic', title: { display: true, text: 'ranks', color: fg }, ticks: { color: fg, callback: v => String(v) }, grid: { color: grid },
          // One tick per power of two (the counts a scaling study usually runs), whatever log10 would pick.
          afterBuildTicks: axis => {
            const ticks = [];
            for (let n = 1; n <= axis.max; n *= 2) if (n >= axis.min) ticks.push({ value: n });
            axis.ticks = ticks;
          },
        },
        y: { type: 'logarithmic', title: { display: true, text: 'test body time (ms)', color: fg }, ticks: { color: fg }, grid: { color: grid } },
      },
      plugins: { legend: { labels: { color: fg } }, title: { display: false } },
    },
  });
  compare.onchange = () => {
    if (!chart || chart.data.datasets.length < 3) return;
    chart.setDatasetVisibility(2, compare.checked);
    chart.update();
  };
  document.body.dataset.points = String(pts.length);
  document.body.dataset.series = String(chart.data.datasets.filter((_, i) => chart!.isDatasetVisible(i)).length);
}

/** A link that posts `message` to the extension. */
function action(text: string, message: Record<string, unknown>, className?: string): HTMLAnchorElement {
  return el('a', { href: '#', ...(className ? { className } : {}), onclick: e => { e.preventDefault(); vscode.postMessage(message); } }, [text]);
}

const source = (file: string, line: number | undefined, text = `${file}:${line ?? 1}`) => action(text, { type: 'open', file, line: line ?? 1 }, 'source');

/** One rank's fault: what happened where, the core file, and its stack (innermost first) as links to the source. */
function faultView(f: Fault): HTMLElement {
  const what = f.kind === 'hang' ? 'hang' : f.kind === 'signal' ? `crash${f.signal ? ` (${f.signal})` : ''}` : f.kind === 'core' ? `core dump${f.signal ? ` (${f.signal})` : ''}` : 'collection error';
  return el('div', { className: 'fault' }, [
    el('div', {}, [el('strong', {}, [`rank ${f.rank}`]), ` on ${f.host}: ${what}`, ...(f.file ? [' at ', source(f.file, f.line)] : [])]),
    ...(f.core ? [el('div', { className: 'core' }, [`core file ${f.core} on ${f.host}`])] : []),
    f.stack.length
      ? el('details', { className: 'stack' }, [
        el('summary', {}, [`stack, innermost first (${f.stack.length} frame${f.stack.length === 1 ? '' : 's'})`]),
        // `<frozen runpy>` and the like name no file to open.
        el('ol', {}, f.stack.map(fr => el('li', {}, [`${fr.function}() `, fr.file.startsWith('<') ? `${fr.file}:${fr.line}` : source(fr.file, fr.line)]))),
      ])
      : el('div', { className: 'note' }, ['no stack']),
  ]);
}

/** A failing iteration: its messages (first lines), each rank's fault, and links to its ranks' logs. */
function iterationView(run: Iteration, logs: (number | null)[] | undefined, open: boolean): HTMLElement {
  const rankLink = (rank: number | null) => action(rank === null ? 'launcher' : `rank ${rank}`, { type: 'logs', iteration: run.iteration, rank });
  const logLinks = logs?.length
    ? [' · rank logs: ', ...logs.flatMap((r, i) => (i ? [', ', rankLink(r)] : [rankLink(r)])), ...(logs.length > 1 ? [' · ', action('open all', { type: 'logs', iteration: run.iteration })] : [])]
    : run.logDir ? [' · rank logs no longer kept (distest.logs.keepRuns)'] : [];
  const stored = run.messages.length || run.faults.length;
  return el('details', { id: `iteration-${run.iteration}`, className: 'iteration', open }, [
    el('summary', {}, [`iteration ${run.iteration}: ${run.kind} after ${ms(run.wallMs)}`, ...logLinks]),
    ...(stored ? [] : [el('p', { className: 'note' }, ['its messages and stacks are not stored: the history keeps them for the first 20 failing iterations'])]),
    ...(run.messages.length ? [el('ul', { className: 'messages' }, run.messages.map(m => el('li', {}, [
      `${m.rank === null ? '' : `rank ${m.rank}: `}${m.text.split('\n', 1)[0]}`, ...(m.file ? [' ', source(m.file, m.line)] : []),
    ])))] : []),
    ...run.faults.map(faultView),
  ]);
}

/** Opens failing iteration `k`'s section and scrolls to it. */
function showIteration(k: number): void {
  const section = document.getElementById(`iteration-${k}`) as HTMLDetailsElement | null;
  if (!section) return;
  section.open = true;
  section.scrollIntoView({ block: 'start' });
}

function repeatView(study: RepeatStudy, previous: RepeatStudy | undefined, logs: KeptLogs): void {
  const failing = study.runs.filter(r => r.state === 'failed' || r.state === 'errored');
  const rate = study.failureRate !== null && study.ci95 ? `${pct(study.failureRate)} (95% interval ${pct(study.ci95[0])}–${pct(study.ci95[1])})` : '—';
  const spreadRow = (label: string, s: RepeatStudy['durationsMs']) => el('tr', {}, [el('th', {}, [label]), el('td', {}, [s ? `min ${ms(s.min)} · median ${ms(s.median)} · p95 ${ms(s.p95)} · max ${ms(s.max)}` : '—'])]);
  const prevRate = previous?.failureRate;
  root.replaceChildren(
    el('h2', {}, [study.id]),
    el('p', { className: 'sub' }, [`Repeat on ${study.allocation}, ${study.ranks} ranks, ${study.iterations} of ${study.requested} iterations${study.untilFail ? ' (until the first failure)' : ''}, ${new Date(study.startedAt).toLocaleString()}${study.cancelled ? ' (cancelled)' : ''}`]),
    el('table', { id: 'summary' }, [
      el('tr', {}, [el('th', {}, ['outcomes']), el('td', {}, [`passed ${study.outcomes.passed} · failed ${study.outcomes.failed} · errored ${study.outcomes.errored} (hang ${study.kinds.hang}, crash ${study.kinds.crash})${study.outcomes.skipped ? ` · skipped ${study.outcomes.skipped}` : ''}`])]),
      el('tr', {}, [el('th', {}, ['failure rate']), el('td', {}, [rate, prevRate !== undefined && prevRate !== null ? ` · previous study ${pct(prevRate)}` : ''])]),
      el('tr', {}, [el('th', {}, ['first failure']), el('td', {}, [study.firstFailure !== null ? `iteration ${study.firstFailure}` : 'none'])]),
      spreadRow('test body', study.durationsMs),
      spreadRow('launch', study.wallMs),
    ]),
    el('h3', {}, ['Groups']),
    study.groups.length ? el('table', { id: 'groups' }, [
      el('thead', {}, [el('tr', {}, ['kind', 'ranks', 'count', 'message', 'iterations'].map(h => el('th', {}, [h])))]),
      el('tbody', {}, study.groups.map(g => el('tr', {}, [
        el('td', {}, [g.kind]), el('td', {}, [g.ranks.join(', ')]), el('td', {}, [String(g.iterations.length)]),
        el('td', {}, [g.file ? el('a', { href: '#', onclick: e => { e.preventDefault(); vscode.postMessage({ type: 'open', file: g.file, line: g.line }); } }, [`${g.message} (${g.file}:${g.line})`]) : g.message]),
        el('td', {}, g.iterations.flatMap((k, i) => {
          const link = el('a', { href: '#', onclick: e => { e.preventDefault(); showIteration(k); } }, [String(k)]);
          return i ? [', ', link] : [link];
        })),
      ]))),
    ]) : el('p', {}, ['Every iteration passed.']),
    el('div', { className: 'chart' }, [el('canvas', { id: 'chart' })]),
    ...(failing.length ? [el('h3', {}, ['Failing iterations']), el('div', { id: 'failures' }, failing.map((r, i) => iterationView(r, logs[r.iteration], i === failing.length - 1)))] : []),
  );
  colours = themeColours();
  const { text: fg, grid } = colours;
  const kinds: Record<string, string> = { passed: '#73c991', failed: '#f14c4c', hang: '#cca700', crash: '#c586c0', errored: '#e51400', skipped: '#888' };
  chart?.destroy();
  chart = new Chart(document.getElementById('chart') as HTMLCanvasElement, {
    type: 'scatter',
    data: { datasets: Object.keys(kinds).map(kind => ({ label: kind, data: study.runs.filter(r => r.kind === kind).map(r => ({ x: r.iteration, y: r.wallMs })), backgroundColor: kinds[kind], borderColor: kinds[kind] })).filter(d => d.data.length) },
    plugins: [background],
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: 'iteration', color: fg }, ticks: { color: fg, precision: 0 }, grid: { color: grid } }, y: { title: { display: true, text: 'launch time (ms)', color: fg }, ticks: { color: fg }, grid: { color: grid } } },
      plugins: { legend: { labels: { color: fg } } },
    },
  });
  document.body.dataset.points = String(study.runs.length);
}

window.addEventListener('message', (event: MessageEvent<{ type: 'study'; study: Study; previous?: Study; logs?: KeptLogs }>) => {
  if (event.data?.type !== 'study') return;
  current = { study: event.data.study, previous: event.data.previous };
  const started = performance.now();
  if (current.study.kind === 'scale') scaleView(current.study, current.previous?.kind === 'scale' ? current.previous : undefined);
  else repeatView(current.study, current.previous?.kind === 'repeat' ? current.previous : undefined, event.data.logs ?? {});
  requestAnimationFrame(() => {
    document.body.dataset.rendered = 'true';
    vscode.postMessage({ type: 'rendered', ms: performance.now() - started });
  });
});
vscode.postMessage({ type: 'ready' });
