// Study charts as standalone SVGs (the CLI's `--svg` and `distest chart`, for CI artifacts). Scale:
// log-scaled ranks and times, the measured medians with min–max bars from the repeats, and the ideal
// line. Repeat: each iteration's launch time, coloured by how it ended.
import type { RepeatStudy, ScaleStudy, Study } from './study';

const W = 640;
const H = 400;
const M = { left: 70, right: 20, top: 40, bottom: 50 };

const esc = (s: string) => s.replace(/[<>&"]/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);

/** Powers of ten (and 2, 5 between) inside [lo, hi], for a log axis's ticks. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

export function scaleSvg(study: ScaleStudy): string {
  const pts = study.points.filter(p => p.bodyMs);
  const base = pts[0];
  const ideal = (n: number) => (base?.bodyMs ? (study.weak ? base.bodyMs.median : (base.bodyMs.median * base.ranks) / n) : 0);
  const xs = study.points.map(p => p.ranks);
  const ys = [...pts.flatMap(p => [p.bodyMs!.min, p.bodyMs!.max]), ...xs.map(ideal).filter(v => v > 0)];
  const xlo = Math.min(...xs, 1);
  const xhi = Math.max(...xs, 2);
  const ylo = ys.length ? Math.min(...ys) / 1.5 : 1;
  const yhi = ys.length ? Math.max(...ys) * 1.5 : 10;
  const x = (n: number) => M.left + ((Math.log2(n) - Math.log2(xlo)) / (Math.log2(xhi) - Math.log2(xlo) || 1)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - ((Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo) || 1)) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(`${study.id} — ${study.weak ? 'weak' : 'strong'} scaling on ${study.allocation}`)}</text>`,
  ];
  for (const n of xs) parts.push(`<line x1="${x(n)}" x2="${x(n)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/><text x="${x(n)}" y="${H - M.bottom + 16}" text-anchor="middle">${n}</text>`);
  for (const v of logTicks(ylo, yhi)) parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
  parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">ranks</text>`, `<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">test body time (median, min–max)</text>`);
  if (base) parts.push(`<polyline fill="none" stroke="#999" stroke-dasharray="6 4" points="${xs.map(n => `${x(n)},${y(ideal(n))}`).join(' ')}"><title>ideal</title></polyline>`);
  parts.push(`<polyline class="series" fill="none" stroke="#1f77b4" stroke-width="2" points="${pts.map(p => `${x(p.ranks)},${y(p.bodyMs!.median)}`).join(' ')}"/>`);
  for (const p of pts) {
    const b = p.bodyMs!;
    parts.push(`<line x1="${x(p.ranks)}" x2="${x(p.ranks)}" y1="${y(b.min)}" y2="${y(b.max)}" stroke="#1f77b4"/>`,
      `<circle class="point" cx="${x(p.ranks)}" cy="${y(b.median)}" r="4" fill="#1f77b4"><title>${p.ranks} ranks: ${b.median.toFixed(1)} ms</title></circle>`);
  }
  parts.push(`<text x="${W - M.right}" y="${M.top - 6}" text-anchor="end" fill="#1f77b4">measured</text><text x="${W - M.right - 70}" y="${M.top - 6}" text-anchor="end" fill="#999">ideal</text>`, '</svg>');
  return `${parts.join('\n')}\n`;
}

/** The same colours per outcome as the study view's repeat chart. */
const KIND_COLOURS: Record<string, string> = { passed: '#73c991', failed: '#f14c4c', hang: '#cca700', crash: '#c586c0', errored: '#e51400', skipped: '#888' };

/** Whole-number ticks for a linear axis from 0 (or 1) to `hi`: about six of them, at 1, 2 or 5 × 10^k apart. */
function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 6 || 1;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * pow).find(v => v >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) ticks.push(v);
  return ticks;
}

export function repeatSvg(study: RepeatStudy): string {
  const n = Math.max(study.requested, study.runs.length, 2);
  const yhi = Math.max(...study.runs.map(r => r.wallMs), 1) * 1.1;
  const x = (k: number) => M.left + ((k - 1) / (n - 1)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - (v / yhi) * (H - M.top - M.bottom);
  const o = study.outcomes;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(`${study.id} — ${study.iterations} iterations on ${study.allocation}: passed ${o.passed} · failed ${o.failed} · errored ${o.errored}`)}</text>`,
  ];
  for (const k of linearTicks(1, n).filter(k => k >= 1)) parts.push(`<line x1="${x(k)}" x2="${x(k)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/><text x="${x(k)}" y="${H - M.bottom + 16}" text-anchor="middle">${k}</text>`);
  for (const v of linearTicks(0, yhi)) parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
  parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">iteration</text>`, `<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">launch time</text>`);
  for (const r of study.runs) {
    parts.push(`<circle class="point ${r.kind}" cx="${x(r.iteration)}" cy="${y(r.wallMs)}" r="4" fill="${KIND_COLOURS[r.kind]}"><title>iteration ${r.iteration}: ${r.kind}, ${r.wallMs.toFixed(0)} ms</title></circle>`);
  }
  const kinds = Object.keys(KIND_COLOURS).filter(k => study.runs.some(r => r.kind === k));
  kinds.forEach((k, i) => parts.push(`<text x="${W - M.right - (kinds.length - 1 - i) * 70}" y="${M.top - 6}" text-anchor="end" fill="${KIND_COLOURS[k]}">${k}</text>`));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function studySvg(study: Study): string {
  return study.kind === 'scale' ? scaleSvg(study) : repeatSvg(study);
}
