// Study chart benchmark: the study webview's script (dist/media/studyView.js, Chart.js bundled) in
// headless Chromium under the view's CSP, timed from the study message to the first painted frame
// for a 64-point scaling study, against a 4-point study in the same run (medians of 7).
// Last stdout line: {"points64Ms", "points4Ms", "ratio", "cspViolations"}; a screenshot goes to .e2e/shots/.
/* global performance, requestAnimationFrame */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { launchChromium } from '../scripts/lib/browser.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const script = path.join(root, 'dist/media/studyView.js');
if (!fs.existsSync(script)) throw new Error('dist/media/studyView.js missing: run node scripts/build.mjs first');
const NONCE = 'benchnonce';
const csp = `default-src 'none'; img-src data:; style-src 'nonce-${NONCE}'; script-src 'nonce-${NONCE}'`;
const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}">
<style nonce="${NONCE}">.chart { position: relative; height: 360px; width: 900px; } body { font-family: sans-serif; }</style></head>
<body><div id="root"></div>
<script nonce="${NONCE}">window.__posted = []; window.acquireVsCodeApi = () => ({ postMessage: m => window.__posted.push(m) });</script>
<script nonce="${NONCE}" src="/studyView.js"></script></body></html>`;
const server = http.createServer((req, res) => {
  if (req.url === '/studyView.js') res.end(fs.readFileSync(script));
  else res.end(html);
}).listen(0, '127.0.0.1');
await new Promise(resolve => server.once('listening', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

function study(n) {
  const points = Array.from({ length: n }, (_, i) => {
    const ranks = i + 1;
    const median = 1000 / ranks + 5 * Math.log2(ranks);
    return { ranks, samples: [], bodyMs: { median, min: median * 0.95, max: median * 1.07 }, overheadMs: 900 + ranks * 10, speedup: 1000 / median, efficiency: 1000 / median / ranks, timeRatio: null };
  });
  return { version: 1, kind: 'scale', id: `bench/test_kernel.py::test_kernel`, startedAt: new Date().toISOString(), allocation: 'local', cancelled: false, weak: false, repeat: 3, slots: n, points, notes: [] };
}

const browser = await launchChromium();
const violations = [];
async function render(n, shot) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  page.on('console', m => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.__posted.some(m => m.type === 'ready'));
  const ms = await page.evaluate(s => new Promise(resolve => {
    const t0 = performance.now();
    window.postMessage({ type: 'study', study: s }, '*');
    const check = () => (document.body.dataset.rendered === 'true' ? resolve(performance.now() - t0) : requestAnimationFrame(check));
    check();
  }), study(n));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  await page.close();
  return ms;
}
const median = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const shots = path.join(root, '.e2e/shots');
fs.mkdirSync(shots, { recursive: true });
const t64 = [];
const t4 = [];
for (let i = 0; i < 7; i++) {
  t4.push(await render(4));
  t64.push(await render(64, i === 0 ? path.join(shots, 'bench-study-chart-64.png') : undefined));
}
await browser.close();
server.close();
console.log(`64 points: ${t64.map(v => v.toFixed(1)).join(', ')} ms; 4 points: ${t4.map(v => v.toFixed(1)).join(', ')} ms`);
console.log(JSON.stringify({ points64Ms: Number(median(t64).toFixed(1)), points4Ms: Number(median(t4).toFixed(1)), ratio: Number((median(t64) / median(t4)).toFixed(2)), cspViolations: violations.length }));
