#!/usr/bin/env node
// UI end-to-end suite: the packaged extension in a real VS Code (code-server) driven through Chromium
// the way a user would, on a copy of the demo workspace. Each step is one function; a failed step
// leaves a screenshot and the extension host / distest logs under .e2e/ui/artifacts/<step>/ and the
// suite goes on with the next one. Screenshots of every step go to .e2e/shots/ui-*.png.
//
// usage: node test/e2e/run.mjs          last line: `N passed, N failed`; exit code 1 on any failure
//        E2E_STEPS=name,name node test/e2e/run.mjs   only those steps (the test cluster only when one needs it)
import fs from 'node:fs';
import path from 'node:path';
import { packageExtension } from '../../scripts/lib/extension.mjs';
import { startTestCluster } from './cluster.mjs';
import { clearShots, copyLogs, openSession, requireComponents, shotsDir } from './harness.mjs';
import {
  expandAllTests, openFile, openTestingView, peekAnchorLine, runCommand, runFromRow, testRow, testRows, waitForOutcome, waitForWorkbench,
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

/**
 * examples/tests/test_sweep.py computes its parameter list at import: static discovery lists one dynamic
 * row, and the background exact pass (pytest's own collection of that file) turns it into its instances.
 */
async function dynamicItemTurnsIntoItsExactInstances({ session, page }) {
  if (!page.url().includes('folder=')) {
    await page.goto(session.workbenchUrl(session.workspace));
    await waitForWorkbench(page);
  }
  await openTestingView(page);
  const instances = ['[8]', '[16]', '[24]'];
  const rows = await eventually(async () => {
    await expandAllTests(page).catch(() => undefined);
    // The demo's tree is taller than the view: the rows below it are rendered only once scrolled to.
    await scrollToRow(page, '[24]').catch(() => undefined);
    return testRows(page);
  }, found => instances.every(name => found.some(r => r.name === name)), 90_000);
  for (const name of instances) assert(rows.some(r => r.name === name && r.description === '2 ranks'), `no "${name}" row with 2 ranks: ${rows.map(r => `${r.name} [${r.description}]`).join(', ')}`);
  const group = rows.find(r => r.name === 'test_grid_sizes');
  assert(group?.description === '2 ranks', `the group row test_grid_sizes shows "${group?.description}"`);
  await (await testRow(page, '[16]')).scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shotsDir, 'ui-exact-instances.png') });
  // Back to the top of the tree, where the next steps find their rows.
  await page.locator('.test-explorer .monaco-list').first().hover();
  await page.mouse.wheel(0, -20_000);
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

/**
 * The picker lists this machine, the SSH host from settings and the Slurm job made outside distest on the
 * test cluster (with its time left); picking the job sends the next run there (a job step in sacct).
 */
async function allocationPickerSendsTheNextRunToASlurmJob({ page }) {
  const jobId = cluster.jobId;
  const status = page.locator('.statusbar-item', { hasText: 'local ·' }).first();
  await status.waitFor({ timeout: 30_000 });
  await status.click();
  const rows = () => page.locator('.quick-input-list .monaco-list-row').allInnerTexts().then(t => t.map(x => x.replace(/\s+/g, ' ')), () => []);
  const listed = await eventually(rows, r => r.some(x => x.includes(`Slurm job ${jobId}`)), 60_000);
  for (const want of ['Local machine', 'localhost', `Slurm job ${jobId}`, 'New Slurm allocation']) {
    assert(listed.some(x => x.includes(want)), `the picker lacks "${want}"; it lists: ${listed.join(' | ')}`);
  }
  assert(listed.some(x => x.includes(`Slurm job ${jobId}`) && /RUNNING · \d+:\d+ left/.test(x)), `job ${jobId} without state and time left: ${listed.join(' | ')}`);
  await page.screenshot({ path: path.join(shotsDir, 'ui-allocation-picker.png') });
  await page.locator('.quick-input-list .monaco-list-row', { hasText: `Slurm job ${jobId}` }).first().click();
  const statusText = () => page.locator('.statusbar-item', { hasText: `slurm:${jobId}` }).first().innerText().catch(() => '');
  const shown = await eventually(statusText, t => / left/.test(t));
  assert(shown.includes(`slurm:${jobId}`) && / left/.test(shown), `status bar shows "${shown}", expected slurm:${jobId} with its time left`);

  await runFromRow(page, 'test_gather_rank_ids');
  const outcome = await waitForOutcome(page, 'test_gather_rank_ids', 120_000);
  assert(/\(Passed\)/.test(outcome), `test_gather_rank_ids on slurm:${jobId}: ${outcome}`);
  const steps = await eventually(() => cluster.steps(), s => s.length > 0, 30_000);
  assert(steps.length > 0, `the run left no job step in slurm:${jobId} (sacct lists none)`);
  await page.screenshot({ path: path.join(shotsDir, 'ui-allocation-slurm-run.png') });

  // Later steps run on this machine again.
  await runCommand(page, 'distest: Select Allocation');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Local machine' }).first().click();
  await page.locator('.statusbar-item', { hasText: 'local ·' }).first().waitFor({ timeout: 15_000 });
}

/** Polls `read` until `ok(value)` or the timeout; returns the last value. */
async function eventually(read, ok, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

/**
 * Runs the test from its row; `outcome` is this run's: a test run before shows its last outcome until
 * the new run changes the row. A step must not end while its run goes on (closing the session would
 * leave the ranks behind).
 */
async function startRun(page, name, timeout = 90_000) {
  const label = () => testRows(page).then(rows => rows.find(r => r.name === name)?.label ?? '');
  const before = await label();
  await runFromRow(page, name);
  return { outcome: eventually(label, l => l !== before, 30_000).then(() => waitForOutcome(page, name, timeout)) };
}

/** Right-clicks the test row and picks `action` from its context menu. */
async function contextMenuOnRow(page, name, action) {
  for (let attempt = 1; ; attempt++) {
    const row = await testRow(page, name);
    await row.scrollIntoViewIfNeeded();
    await row.click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-label', { hasText: action }).first();
    await item.hover();
    await item.click();
    // The menu can swallow a click (seen once in CI: it stayed open with the item highlighted).
    const closed = await item.waitFor({ state: 'hidden', timeout: 3000 }).then(() => true, () => false);
    if (closed) return;
    if (attempt === 3) throw new Error(`the context menu of "${name}" did not take "${action}"`);
    await page.keyboard.press('Escape');
  }
}

/**
 * The Rank Logs view (panel area): opened on a running test from its context menu, then following a
 * 4-rank run: every rank alone with its host and state and only its own lines, search across ranks,
 * the merged view's rank gutters, the grid, Open as document (language id), the command palette.
 */
async function rankLogsShowEachRankAndOpenAsDocument({ page }) {
  const view = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
  const picker = view.locator('select[aria-label="Rank"]');
  const status = () => view.locator('#status').innerText().catch(() => '');
  const terminalText = () => view.locator('.xterm-rows').allInnerTexts().then(t => t.join('\n'), () => '');

  // The view's CSP admits no inline style elements without its nonce: the browser would say so here.
  const violations = [];
  const onConsole = message => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  };
  page.on('console', onConsole);
  // From the command palette, on the last run; loading xterm in a fresh webview takes a few seconds.
  await runCommand(page, 'distest: Show Rank Logs');
  await picker.waitFor({ timeout: 30_000 });
  // A running test (rank 0 waits for a message never sent until its 5 s timeout), from its context menu.
  const hang = 'test_rank_0_waits_for_a_message_never_sent';
  const hangRun = await startRun(page, hang, 60_000);
  await contextMenuOnRow(page, hang, 'Show Rank Logs');
  const whileRunning = await eventually(status, t => t.includes('(running)'), 10_000);
  const outcome = await hangRun.outcome;
  assert(whileRunning.includes('(running)'), `the view on a running test says "${whileRunning}"`);
  assert(/(Errored)/.test(outcome), `${hang}: ${outcome}`);
  await view.getByRole('button', { name: 'First error', exact: true }).click();
  const firstError = await eventually(status, t => t.startsWith('first error: r'), 10_000);
  assert(firstError.startsWith('first error: r'), `First error says "${firstError}"`);
  const marked = await terminalText();
  assert(marked.includes('▌'), `no stderr line marked in the rank view: ${marked.slice(0, 300)}`);

  // The next run, 4 ranks each printing its own line, from its result (Test Results took the panel).
  assert(/\(Passed\)/.test(await (await startRun(page, '[4]')).outcome), '[4] did not pass');
  await contextMenuOnRow(page, '[4]', 'Show Rank Logs');
  const own = rank => `rank ${rank} of 4: partial sum`;
  for (const rank of [0, 1, 2, 3]) {
    const option = picker.locator(`option[value="${rank}"]`);
    const entry = await eventually(() => option.innerText().catch(() => ''), t => / · .+ · passed$/.test(t));
    assert(/ · .+ · passed$/.test(entry), `rank picker entry for rank ${rank} is "${entry}", without host and state`);
    await picker.selectOption(String(rank));
    const text = await eventually(terminalText, t => t.includes(own(rank)));
    assert(text.includes(own(rank)), `rank ${rank}'s view lacks its line; shows: ${text.slice(0, 300)}`);
    const others = [0, 1, 2, 3].filter(r => r !== rank && text.includes(own(r)));
    assert(!others.length, `rank ${rank}'s view shows the lines of ranks ${others}`);
  }

  // Search across ranks: from rank 0, a line only rank 2 printed selects rank 2.
  await picker.selectOption('0');
  const search = view.locator('input[aria-label="Search all ranks"]');
  await search.fill(own(2));
  await search.press('Enter');
  const found = await eventually(status, t => t.startsWith('r2 · '), 10_000);
  assert(found.startsWith('r2 · ') && (await picker.inputValue()) === '2', `search for rank 2's line: picker ${await picker.inputValue()}, status "${found}"`);

  await view.getByRole('button', { name: 'Merged', exact: true }).click();
  for (const rank of [0, 3]) {
    await search.fill(own(rank));
    await search.press('Enter');
    const merged = await eventually(terminalText, t => t.includes(`[r${rank}] ${own(rank)}`), 10_000);
    assert(merged.includes(`[r${rank}] ${own(rank)}`), `merged view lacks "[r${rank}] ${own(rank)}": ${merged.slice(0, 300)}`);
  }

  await view.getByRole('button', { name: 'Grid', exact: true }).click();
  const titles = await eventually(() => view.locator('.pane-title').allInnerTexts().catch(() => []), t => t.length === 4);
  assert(titles.length === 4 && titles.every((t, i) => t.startsWith(`r${i} · `) && t.endsWith(' · passed')), `grid panes: ${titles.join(' | ')}`);
  await page.screenshot({ path: path.join(shotsDir, 'ui-rank-logs-grid.png') });

  await picker.selectOption('3');
  await view.getByRole('button', { name: 'Open as document', exact: true }).click();
  const editorText = await eventually(
    // Monaco renders spaces as no-break spaces.
    () => page.locator('.monaco-editor .view-lines').last().innerText().then(t => t.replace(/\u00a0/g, ' '), () => ''),
    t => t.includes(`[r3] ${own(3)}`));
  assert(editorText.includes(`[r3] ${own(3)}`), `rank log document shows: ${editorText.slice(0, 300)}`);
  const language = await eventually(
    () => page.locator('#status\\.editor\\.mode').innerText().catch(() => ''), t => t.includes('distest Rank Log'), 15_000);
  assert(language.includes('distest Rank Log'), `status bar language is "${language}"`);

  // The command palette brings the view back once the panel is closed.
  await runCommand(page, 'View: Hide Panel');
  await page.locator('.part.panel').waitFor({ state: 'hidden', timeout: 10_000 });
  await runCommand(page, 'distest: Show Rank Logs');
  await page.locator('.part.panel').waitFor({ timeout: 10_000 });
  const reopened = await eventually(() => picker.inputValue().catch(() => ''), v => v !== '', 10_000);
  assert(reopened !== '', 'the command palette did not bring the Rank Logs view back');
  page.off('console', onConsole);
  assert(!violations.length, `CSP violations in the view: ${violations.join(' | ').slice(0, 600)}`);
}

async function faultsShowInProblemsAtTheirLines({ session, page }) {
  const file = 'tests/test_faults.py';
  const source = fs.readFileSync(path.join(session.workspace, file), 'utf8').split('\n');
  const lineOf = text => source.findIndex(l => l.includes(text)) + 1;
  const faults = [
    ['test_rank_1_segfaults', lineOf('ctypes.string_at(0)'), 'SIGSEGV on rank 1'],
    ['test_rank_0_waits_for_a_message_never_sent', lineOf('comm.recv(source=1'), 'rank 0'],
  ];
  for (const [name] of faults) {
    await runFromRow(page, name);
    const outcome = await waitForOutcome(page, name, 120_000);
    assert(/\(Errored\)/.test(outcome), `${name}: ${outcome}`);
  }
  await runCommand(page, 'Focus on Problems View');
  const problemRows = () => page.locator('.markers-panel .monaco-list-row').allInnerTexts().then(t => t.map(x => x.replace(/\s+/g, ' ')), () => []);
  const found = fault => rows => rows.some(r => r.includes(fault[0]) && r.includes(fault[2]) && r.includes(`Ln ${fault[1]},`));
  // The Problems list renders only the rows in view: each fault's are filtered to by its test's name, so
  // other steps' Problems above them cannot push them out of the panel.
  const filter = page.locator('.panel .viewpane-filter input:visible').first();
  for (const fault of faults) {
    await filter.fill(fault[0]);
    const rows = await eventually(problemRows, found(fault));
    assert(found(fault)(rows), `no problem "${fault[2]}" for ${fault[0]} at line ${fault[1]}; Problems shows: ${rows.join(' | ').slice(0, 600)}`);
    if (fault === faults[faults.length - 1]) {
      await page.waitForTimeout(500); // the filter applies after a pause in typing
      await page.screenshot({ path: path.join(shotsDir, 'ui-fault-problems.png') });
    }
  }
  await filter.fill('');
}

/** The study webview's frame (an editor webview: its inner frame holds #root). */
async function studyFrame(page, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      if (await frame.locator('#root h2').count().catch(() => 0)) return frame;
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  throw new Error('no study webview opened');
}

/** Scrolls the Testing view until the row `name` is rendered (the tree renders only the rows in view). */
async function scrollToRow(page, name) {
  const tree = page.locator('.test-explorer .monaco-list').first();
  await tree.hover();
  for (let i = 0; i < 40; i++) {
    if ((await testRows(page)).some(r => r.name === name)) return;
    await page.mouse.wheel(0, 200);
    await page.waitForTimeout(100);
    await expandAllTests(page);
  }
  throw new Error(`no "${name}" row in the Testing view, even scrolled`);
}

/** Answers the study's questions: each entry is text for an input box (null: keep the default) or a quick-pick row. */
async function answer(page, replies) {
  for (const reply of replies) {
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ timeout: 15_000 });
    if (reply?.pick) {
      await page.locator('.quick-input-list .monaco-list-row', { hasText: reply.pick }).first().click();
    } else {
      if (reply !== null) await input.fill(reply);
      await input.press('Enter');
    }
    await new Promise(resolve => setTimeout(resolve, 300));
  }
}

/** Scale… from the test's context menu: the chart webview shows one line per series, a point per count, no CSP violation. */
async function scaleFromTheTestingViewShowsTheChart({ page }) {
  const violations = [];
  const onConsole = message => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  };
  page.on('console', onConsole);
  await openTestingView(page);
  await expandAllTests(page);
  await scrollToRow(page, 'test_kernel');
  await contextMenuOnRow(page, 'test_kernel', 'Scale…');
  await answer(page, ['1,2,4', '2', { pick: 'Strong scaling' }]);
  const frame = await studyFrame(page, 120_000);
  await frame.locator('body[data-rendered="true"]').waitFor({ timeout: 30_000 });
  const points = await frame.locator('body').getAttribute('data-points');
  const series = await frame.locator('body').getAttribute('data-series');
  const rows = await frame.locator('#table tbody tr').allInnerTexts();
  await page.screenshot({ path: path.join(shotsDir, 'ui-scale-chart.png') });
  page.off('console', onConsole);
  assert(points === '3', `the chart has ${points} measured points, expected 3`);
  assert(series === '2', `the chart shows ${series} series, expected 2 (measured, ideal)`);
  assert(rows.length === 3 && rows.every((r, i) => r.trim().startsWith(String([1, 2, 4][i]))), `scaling table rows: ${rows.join(' | ')}`);
  const canvas = await frame.locator('#chart').boundingBox();
  assert(canvas && canvas.width > 200 && canvas.height > 200, `chart canvas is ${JSON.stringify(canvas)}`);
  const studies = await page.locator('.pane-header', { hasText: 'distest: Studies' }).count();
  assert(studies > 0, 'no "distest: Studies" view in the Testing side bar');
  assert(!violations.length, `CSP violations in the study view: ${violations.join(' | ').slice(0, 600)}`);
}

/** Repeat… from the test's context menu: three launches, then the summary in the study view. */
async function repeatFromTheTestingViewShowsTheSummary({ page }) {
  await openTestingView(page);
  await scrollToRow(page, 'test_gather_rank_ids');
  await contextMenuOnRow(page, 'test_gather_rank_ids', 'Repeat…');
  await answer(page, ['3', { pick: 'Run all 3 iterations' }]);
  const summary = await eventually(async () => {
    const frame = await studyFrame(page, 5_000).catch(() => undefined);
    return frame ? frame.locator('#summary').innerText().catch(() => '') : '';
  }, t => t.includes('passed 3'), 120_000);
  await page.screenshot({ path: path.join(shotsDir, 'ui-repeat-summary.png') });
  assert(summary.includes('passed 3 · failed 0'), `repeat summary: ${summary.slice(0, 300)}`);
}

/**
 * Repeat… of the crashing demo test: under Failing iterations, the last one shows rank 1's crash with its
 * stack; a frame opens its source, a rank log link that rank's log of that iteration.
 */
async function repeatOfACrashShowsItsStackAndRankLogs({ page }) {
  await openTestingView(page);
  await scrollToRow(page, 'test_rank_1_segfaults');
  await contextMenuOnRow(page, 'test_rank_1_segfaults', 'Repeat…');
  await answer(page, ['2', { pick: 'Run all 2 iterations' }]);
  const iterations = async () => {
    const frame = await studyFrame(page, 5_000).catch(() => undefined);
    const title = frame ? await frame.locator('#root h2').innerText().catch(() => '') : '';
    return title.includes('test_rank_1_segfaults') ? frame.locator('#failures > details.iteration').count() : 0;
  };
  const count = await eventually(iterations, n => n === 2, 180_000);
  assert(count === 2, `${count} failing iterations in the view, expected 2`);
  const frame = await studyFrame(page);
  const last = frame.locator('#failures > details.iteration[open]');
  const text = (await last.innerText()).replace(/\s+/g, ' ');
  assert(/iteration 2: crash/.test(text) && /rank 1 on \S+: crash \(SIGSEGV\)/.test(text), `the open failing iteration: ${text.slice(0, 400)}`);
  await last.locator('details.stack > summary').first().click();
  await last.locator('details.stack a', { hasText: 'tests/test_faults.py:19' }).first().click();
  await page.locator('.tabs-container .tab.active', { hasText: 'test_faults.py' }).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: path.join(shotsDir, 'ui-repeat-crash-frame.png') });
  // The source opened in the study view's editor group: back to the view.
  await page.locator('.tabs-container .tab', { hasText: 'Repeat: test_rank_1_segfaults' }).click();
  const again = await studyFrame(page);
  await again.locator('#failures > details.iteration[open] > summary a', { hasText: 'rank 1' }).click();
  await page.locator('.tabs-container .tab', { hasText: '1.log' }).waitFor({ timeout: 15_000 });
  const log = await eventually(() => page.locator('.editor-instance .view-lines').first().innerText().catch(() => ''), t => t.includes('[r1'), 15_000);
  assert(log.includes('[r1'), `rank 1's log of iteration 2: ${log.slice(0, 300)}`);
  // Its end names the fault, as a run's rank log does.
  await page.locator('.editor-instance .view-lines').first().click();
  await page.keyboard.press('Control+End');
  const fault = /distest: (signal|core) on rank 1 \(\S+\) SIGSEGV at tests\/test_faults\.py:19/;
  // Monaco renders spaces as no-break spaces.
  const end = await eventually(() => page.locator('.editor-instance .view-lines').first().innerText().then(t => t.replace(/\u00a0/g, ' '), () => ''), t => fault.test(t), 15_000);
  assert(fault.test(end), `the end of rank 1's log of iteration 2 names its fault: ${end.slice(-400)}`);
}

/** The workbench on the demo workspace with the Testing view expanded (a step run alone opens it). */
async function testingViewOpen({ session, page }) {
  if (!page.url().includes('folder=')) {
    await page.goto(session.workbenchUrl(session.workspace));
    await waitForWorkbench(page);
  }
  // A study webview or a rank log left in front by earlier steps keeps the source editor from showing.
  await runCommand(page, 'View: Close All Editors');
  await openTestingView(page);
  await page.locator('.test-explorer .monaco-list-row').first().waitFor({ timeout: 60_000 });
  await expandAllTests(page);
}

const DEBUG_FILE = 'tests/test_halo.py';
const DEBUG_TEST = 'test_halo_exchange[2]';
/** The line of test_halo_exchange after `cells` is set (1-based): both ranks reach it. */
const debugLine = source => source.findIndex((l, i) => i > source.findIndex(x => x.includes('def test_halo_exchange')) && l.includes('left, right = neighbours(comm)')) + 1;

/**
 * A breakpoint on the line of test_halo_exchange both ranks reach (Debug: Toggle Breakpoint there), seen in
 * the glyph margin. The file may open scrolled elsewhere (a failure peek of an earlier step reveals its
 * own line), so the step goes to the line before it looks.
 */
async function breakpointInTheTwoRankTest({ session, page }) {
  const source = fs.readFileSync(path.join(session.workspace, DEBUG_FILE), 'utf8').split('\n');
  const line = debugLine(source);
  await runCommand(page, 'Remove All Breakpoints');
  // Any text will do (a failure peek may have scrolled the file), so the file's tab must be the active one.
  await openFile(page, DEBUG_FILE, '');
  await page.locator('.tabs-container .tab.active', { hasText: path.basename(DEBUG_FILE) }).waitFor({ timeout: 10_000 });
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-widget input.input').fill(`:${line}`);
  await page.keyboard.press('Enter');
  await eventually(() => page.locator('#status\\.editor\\.selection').innerText().catch(() => ''), t => t.includes(`Ln ${line},`), 10_000);
  await runCommand(page, 'Debug: Toggle Breakpoint');
  await page.locator('.monaco-editor .codicon-debug-breakpoint').first().waitFor({ timeout: 10_000 });
  return line;
}

/**
 * Opens Run and Debug when CALL STACK is not shown. Its shortcut opens the view (the activity bar icon
 * toggles it, and a click there waited for the pointer up to the action timeout while a hover covered it).
 */
async function showCallStack(page) {
  if (!(await page.locator('.debug-call-stack').isVisible().catch(() => false))) await page.keyboard.press('Control+Shift+D');
}

/** The CALL STACK rows' texts (empty when the view is not shown). */
const callStackRows = page => page.locator('.debug-call-stack .monaco-list-row').allInnerTexts().then(t => t.map(x => x.replace(/\s+/g, ' ')), () => []);
const bothRanksPaused = rows => [0, 1].every(rank => rows.some(r => r.includes(`rank ${rank} of 2`) && /paused on breakpoint/i.test(r)));

/**
 * Debug on the row with the breakpoint set: the launch's session and its two rank sessions in CALL STACK,
 * both paused at the line; rank 1's frame shows rank 1's cells in Variables; Continue All Ranks on the
 * debug toolbar → the row passes and the sessions are gone.
 */
async function debugStopsEveryRankAtABreakpointAndContinuesAll({ session, page }) {
  await testingViewOpen({ session, page });
  const line = await breakpointInTheTwoRankTest({ session, page });
  await openTestingView(page);
  const label = () => testRows(page).then(rows => rows.find(r => r.name === DEBUG_TEST)?.label ?? '');
  const before = await label();
  const row = await testRow(page, DEBUG_TEST);
  await row.scrollIntoViewIfNeeded();
  await row.hover();
  const clicked = Date.now();
  await row.locator('.action-label[aria-label^="Debug Test"]').click();
  // The Run and Debug view opens when a rank stops (debug.openDebug); open it ourselves if it did not.
  const rows = await eventually(async () => {
    await showCallStack(page);
    return callStackRows(page);
  }, bothRanksPaused, 90_000);
  const pausedMs = Date.now() - clicked;
  assert(bothRanksPaused(rows), `CALL STACK does not show both ranks paused on the breakpoint: ${rows.join(' | ')}`);
  assert(rows.some(r => r.includes('test_halo_exchange[2] · 2 ranks')), `no launch session "test_halo_exchange[2] · 2 ranks" in CALL STACK: ${rows.join(' | ')}`);
  console.log(`    Debug clicked → both ranks paused in CALL STACK after ${pausedMs} ms`);
  metrics.push({ step: 'debug', pausedMs });

  // Rank 1's session: its top frame is at the line, and Variables show rank 1's cells (10·rank + i).
  await page.locator('.debug-call-stack .monaco-list-row', { hasText: 'rank 1 of 2' }).first().click();
  const frame = page.locator('.debug-call-stack .monaco-list-row', { hasText: 'test_halo_exchange' }).filter({ hasText: `${line}` });
  await frame.first().waitFor({ timeout: 10_000 });
  const variables = () => page.locator('.debug-variables .monaco-list-row').allInnerTexts().then(t => t.map(x => x.replace(/\s+/g, ' ')), () => []);
  const rank1 = v => v.some(x => x.includes('cells') && x.includes('10, 11, 12, 13'));
  let shown = await eventually(variables, rank1, 10_000);
  if (!rank1(shown)) {
    // The session row focused the session; its frame row selects the frame whose scopes Variables shows.
    await page.locator('.debug-call-stack .monaco-list-row', { hasText: 'rank 1 of 2' }).locator('xpath=following-sibling::*[1]').click().catch(() => undefined);
    shown = await eventually(variables, rank1, 10_000);
  }
  assert(rank1(shown), `Variables of rank 1 do not show cells [10, 11, 12, 13]: ${shown.join(' | ')}`);
  await page.screenshot({ path: path.join(shotsDir, 'ui-debug-call-stack-both-ranks.png') });

  const continued = Date.now();
  await page.locator('.debug-toolbar .action-label[aria-label="Continue All Ranks"]').click();
  await openTestingView(page);
  await eventually(label, l => l !== before && /\(Passed\)/.test(l), 60_000);
  const outcome = await waitForOutcome(page, DEBUG_TEST, 60_000);
  assert(/\(Passed\)/.test(outcome), `${DEBUG_TEST} after Continue All Ranks: ${outcome}`);
  console.log(`    Continue All Ranks → row passed after ${Date.now() - continued} ms`);
  const left = await eventually(() => callStackRows(page), r => r.length === 0, 15_000);
  assert(left.length === 0, `CALL STACK still lists: ${left.join(' | ')}`);
}

/** A run's processes (pid and command) in the workspace: mpirun, the ranks' pytest, debugpy adapters (not the editor's language servers). */
function workspaceProcesses(workspace) {
  const root = fs.realpathSync(workspace);
  return fs.readdirSync('/proc').filter(p => /^\d+$/.test(p)).flatMap(pid => {
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      return (cwd === root || cwd.startsWith(`${root}/`)) && /mpirun|orted|prterun|pytest|debugpy/.test(command) ? [`${pid} ${command.slice(0, 120)}`] : [];
    } catch {
      return [];
    }
  });
}

/** Both ranks paused at the breakpoint, then Stop on the debug toolbar: the run ends, no rank, mpirun or debugpy adapter is left. */
async function stoppingADebugRunEndsEveryRank({ session, page }) {
  await testingViewOpen({ session, page });
  await breakpointInTheTwoRankTest({ session, page });
  await openTestingView(page);
  const row = await testRow(page, DEBUG_TEST);
  await row.scrollIntoViewIfNeeded();
  await row.hover();
  await row.locator('.action-label[aria-label^="Debug Test"]').click();
  const rows = await eventually(async () => {
    await showCallStack(page);
    return callStackRows(page);
  }, bothRanksPaused, 90_000);
  assert(bothRanksPaused(rows), `CALL STACK does not show both ranks paused: ${rows.join(' | ')}`);
  const running = workspaceProcesses(session.workspace);
  assert(running.length >= 3, `expected mpirun and two ranks in the workspace, found: ${running.join(' | ')}`);
  const stopped = Date.now();
  // A rank's session is focused: the toolbar offers Disconnect (attach) or Stop; either ends the launch.
  await page.locator('.debug-toolbar .action-label[aria-label^="Stop"], .debug-toolbar .action-label[aria-label^="Disconnect"]').first().click();
  const left = await eventually(() => workspaceProcesses(session.workspace), p => p.length === 0, 30_000);
  assert(left.length === 0, `left running after Stop: ${left.join(' | ')}`);
  const gone = await eventually(() => callStackRows(page), r => r.length === 0, 15_000);
  assert(gone.length === 0, `CALL STACK still lists: ${gone.join(' | ')}`);
  await openTestingView(page);
  const outcome = await waitForOutcome(page, DEBUG_TEST, 30_000).catch(err => String(err));
  assert(!/\(Passed\)/.test(outcome), `${DEBUG_TEST} after Stop: ${outcome}`);
  console.log(`    Stop → every process gone and the sessions closed after ${Date.now() - stopped} ms; row: ${outcome}`);
  metrics.push({ step: 'stop', goneMs: Date.now() - stopped });
  await page.screenshot({ path: path.join(shotsDir, 'ui-debug-stopped.png') });
  await runCommand(page, 'Remove All Breakpoints');
}

/** Numbers the debug steps measured, printed as one JSON line at the end. */
const metrics = [];

const allSteps = [
  testingViewListsTestsWithRankCounts,
  dynamicItemTurnsIntoItsExactInstances,
  passingMultiRankTestRunFromItsRow,
  failureOnOneRankPeeksAtTheFailingLine,
  allocationPickerSendsTheNextRunToASlurmJob,
  faultsShowInProblemsAtTheirLines,
  rankLogsShowEachRankAndOpenAsDocument,
  scaleFromTheTestingViewShowsTheChart,
  repeatFromTheTestingViewShowsTheSummary,
  repeatOfACrashShowsItsStackAndRankLogs,
  debugStopsEveryRankAtABreakpointAndContinuesAll,
  stoppingADebugRunEndsEveryRank,
];
const chosen = process.env.E2E_STEPS?.split(',').map(s => s.trim()).filter(Boolean);
const steps = chosen ? allSteps.filter(step => chosen.includes(step.name)) : allSteps;
if (chosen && steps.length !== chosen.length) throw new Error(`E2E_STEPS names unknown steps; known: ${allSteps.map(s => s.name).join(', ')}`);
const needsCluster = steps.includes(allocationPickerSendsTheNextRunToASlurmJob);

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
let cluster;
try {
  if (needsCluster) {
    cluster = startTestCluster();
    console.log(`test cluster up, Slurm job ${cluster.jobId} created outside distest, after ${seconds(t0)} s`);
  }
  console.log('packaging the extension…');
  const vsix = packageExtension();
  console.log(`  packaged in ${seconds(t0)} s`);
  session = await openSession({
    name: 'ui', vsix, env: cluster?.env ?? {},
    settings: { 'testing.automaticallyOpenPeekView': 'failureInVisibleDocument', 'distest.hosts': [{ name: 'localhost', slots: 2 }] },
  });
  console.log(`code-server up at ${session.server.base} after ${seconds(t0)} s`);
  result = await runSteps(session);
} catch (err) {
  console.log(`FAIL setting up the session: ${err?.stack ?? err}`);
} finally {
  await session?.close();
  cluster?.stop();
}
if (metrics.length) console.log(`debug metrics: ${JSON.stringify(metrics)}`);
console.log(`total ${seconds(t0)} s`);
console.log(`${result.passed} passed, ${result.failed} failed`);
process.exit(result.failed ? 1 : 0);
