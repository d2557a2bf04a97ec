#!/usr/bin/env node
// UI end-to-end suite: the packaged extension in a real VS Code (code-server) driven through Chromium
// the way a user would, on a copy of the demo workspace. Each step is one function; a failed step
// leaves a screenshot and the extension host / distest logs under .e2e/ui/artifacts/<step>/ and the
// suite goes on with the next one. Screenshots of every step go to .e2e/shots/ui-*.png.
//
// usage: node test/e2e/run.mjs          last line: `N passed, N failed`; exit code 1 on any failure
import fs from 'node:fs';
import path from 'node:path';
import { packageExtension } from '../../scripts/lib/extension.mjs';
import { clearShots, copyLogs, openSession, requireComponents, shotsDir } from './harness.mjs';
import {
  expandAllTests, openFile, openTestingView, peekAnchorLine, runFromRow, testRows, waitForOutcome, waitForWorkbench,
} from './workbench.mjs';

/** Items the Testing view must list for examples/, with the rank count it must show. */
const EXPECTED_RANKS = [
  ['test_halo_exchange[2]', /^2 ranks$/],
  ['test_global_sum', /^2, 4 ranks$/],
  ['[2]', /^2 ranks$/],
  ['[4]', /^4 ranks$/],
  ['test_decomposition_is_balanced[3]', /^3 ranks$/],
  ['test_zero_ranks', /^invalid marker$/],
  ['test_gather_rank_ids', /^2 ranks$/],
  ['test_max_residual', /^2 ranks$/],
  ['test_token_travels_the_ring', /^2 ranks$/],
];

const assert = (ok, message) => {
  if (!ok) throw new Error(message);
};

async function testingViewListsTestsWithRankCounts({ session, page }) {
  await page.goto(session.workbenchUrl(session.workspace));
  await waitForWorkbench(page);
  await openTestingView(page);
  await page.locator('.test-explorer .monaco-list-row').first().waitFor({ timeout: 60_000 });
  await expandAllTests(page);
  const rows = await testRows(page);
  console.log(`    ${rows.length} rows: ${rows.map(r => `${r.name}${r.description ? ` [${r.description}]` : ''}`).join(', ')}`);
  for (const [name, ranks] of EXPECTED_RANKS) {
    const row = rows.find(r => r.name === name);
    assert(row, `no "${name}" row in the Testing view`);
    assert(ranks.test(row.description), `"${name}" shows "${row.description}", expected ${ranks}`);
  }
}

async function passingMultiRankTestRunFromItsRow({ page }) {
  await runFromRow(page, 'test_halo_exchange[2]');
  const outcome = await waitForOutcome(page, 'test_halo_exchange[2]');
  assert(/\(Passed\)/.test(outcome), `test_halo_exchange[2]: ${outcome}`);
}

async function failureOnOneRankPeeksAtTheFailingLine({ session, page }) {
  const file = 'tests/test_halo.py';
  await openFile(page, file, 'def owned_cell_count');
  await runFromRow(page, 'test_decomposition_is_balanced[3]');
  const outcome = await waitForOutcome(page, 'test_decomposition_is_balanced[3]');
  assert(/\(Failed\)/.test(outcome), `test_decomposition_is_balanced[3]: ${outcome}`);

  const peek = page.locator('.peekview-widget', { hasText: 'rank 1 of 3' }).first();
  await peek.waitFor({ timeout: 20_000 }).catch(() => undefined);
  const peekText = await page.locator('.peekview-widget').first().innerText({ timeout: 1000 }).catch(() => '(no peek widget)');
  assert(await peek.isVisible(), `no failure peek naming "rank 1 of 3"; peek shows: ${peekText.slice(0, 300)}`);
  const source = fs.readFileSync(path.join(session.workspace, file), 'utf8').split('\n');
  const failingLine = source.findIndex(l => l.includes('assert mine <=')) + 1;
  const line = await peekAnchorLine(peek);
  assert(line === failingLine, `failure peek sits below line ${line}, expected line ${failingLine} (the failing assert)`);
}

const steps = [
  testingViewListsTestsWithRankCounts,
  passingMultiRankTestRunFromItsRow,
  failureOnOneRankPeeksAtTheFailingLine,
];

const seconds = since => ((Date.now() - since) / 1000).toFixed(1);

async function runSteps(session) {
  let passed = 0;
  let failed = 0;
  for (const [index, step] of steps.entries()) {
    const id = `${String(index + 1).padStart(2, '0')}-${step.name}`;
    const started = Date.now();
    try {
      await step({ session, page: session.page });
      await session.page.screenshot({ path: path.join(shotsDir, `ui-${id}.png`) });
      console.log(`ok   ${step.name} (${seconds(started)} s)`);
      passed++;
    } catch (err) {
      failed++;
      console.log(`FAIL ${step.name} (${seconds(started)} s)\n     ${String(err?.message ?? err).split('\n').join('\n     ')}`);
      const shot = path.join(shotsDir, `ui-${id}-FAILED.png`);
      await session.page.screenshot({ path: shot }).catch(() => undefined);
      const artifacts = path.join(session.dir, 'artifacts', id);
      const logs = copyLogs(session, artifacts);
      console.log(`     screenshot: ${shot}\n     logs (${logs.length} extension host/distest files + code-server.log): ${artifacts}`);
      await session.page.keyboard.press('Escape').catch(() => undefined);
    }
  }
  return { passed, failed };
}

requireComponents();
const t0 = Date.now();
clearShots('ui-');
let result = { passed: 0, failed: 1 };
let session;
try {
  console.log('packaging the extension…');
  const vsix = packageExtension();
  console.log(`  packaged in ${seconds(t0)} s`);
  session = await openSession({ name: 'ui', vsix, settings: { 'testing.automaticallyOpenPeekView': 'failureInVisibleDocument' } });
  console.log(`code-server up at ${session.server.base} after ${seconds(t0)} s`);
  result = await runSteps(session);
} catch (err) {
  console.log(`FAIL setting up the session: ${err?.stack ?? err}`);
} finally {
  await session?.close();
}
console.log(`total ${seconds(t0)} s`);
console.log(`${result.passed} passed, ${result.failed} failed`);
process.exit(result.failed ? 1 : 0);
