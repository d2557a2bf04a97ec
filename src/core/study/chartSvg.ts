// The scaling chart as a standalone SVG (the CLI's `--svg`, for CI artifacts): log-scaled ranks and
// times, the measured medians with min–max bars from the repeats, and the ideal line.
import type { ScaleStudy } from './study';

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
