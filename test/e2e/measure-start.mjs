#!/usr/bin/env node
// Measures `npm start` the way a user meets it: from the command to a workbench whose Testing view
// lists the demo tests with rank counts; then stops it with SIGINT and checks that no process of it
// is left. usage: node test/e2e/measure-start.mjs [runs=1]
import { execFileSync, spawn } from 'node:child_process';
import { repoRoot } from '../../scripts/lib/bootstrap.mjs';
import { launchChromium } from '../../scripts/lib/browser.mjs';
import { expandAllTests, openTestingView, testRows, waitForWorkbench } from './workbench.mjs';

const runs = Number(process.argv[2] || 1);
const seconds = (from, to = Date.now()) => ((to - from) / 1000).toFixed(1);

/** Processes whose command line mentions the run's profile dir (code-server, extension host, watchers). */
const leftovers = marker => execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
  .split('\n').filter(l => l.includes(marker));

async function measureOnce() {
  const started = Date.now();
  const start = spawn('node', ['scripts/start.mjs'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    start.stdout.on('data', chunk => {
      out += chunk;
      const m = /distest demo: (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    start.on('exit', code => reject(new Error(`start.mjs exited (${code}) before printing its URL:\n${out}`)));
  });
  const urlPrinted = Date.now();
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await waitForWorkbench(page);
  const workbench = Date.now();
  await openTestingView(page);
  await page.locator('.test-explorer .monaco-list-row').first().waitFor({ timeout: 60_000 });
  await expandAllTests(page);
  const ranked = (await testRows(page)).filter(r => /ranks?$/.test(r.description)).length;
  const listed = Date.now();
  await browser.close();

  const marker = `.cache/start/${start.pid}/`;
  const stopAsked = Date.now();
  start.kill('SIGINT');
  const exitCode = await new Promise(resolve => start.on('exit', (code, signal) => resolve(code ?? signal)));
  const stopped = Date.now();
  const left = leftovers(marker);
  console.log(`URL printed ${seconds(started, urlPrinted)} s, workbench ${seconds(started, workbench)} s, ` +
    `tests listed ${seconds(started, listed)} s (${ranked} items with rank counts); ` +
    `SIGINT → exit ${exitCode} in ${seconds(stopAsked, stopped)} s, ${left.length} processes left${left.length ? `:\n${left.join('\n')}` : ''}`);
  return left.length === 0 && ranked > 0;
}

let ok = 0;
for (let i = 0; i < runs; i++) {
  try {
    if (await measureOnce()) ok++;
  } catch (err) {
    console.log(`FAIL ${err?.message ?? err}`);
  }
}
console.log(`${ok} passed, ${runs - ok} failed`);
process.exit(ok === runs ? 0 : 1);
