// Playwright helpers for the VS Code 1.99 workbench (code-server 4.99.4). Selectors were checked
// against that version; see the real-VS-Code recipe for how each was found.

export const TESTING_ICON = '.activitybar .action-item a[aria-label^="Testing"]';
const TEST_ROW = '.test-explorer .monaco-list-row';
const QUICK_INPUT = '.quick-input-widget input.input';

export async function waitForWorkbench(page, timeout = 90_000) {
  await page.locator('.monaco-workbench').waitFor({ timeout });
}

/** F1, type the command's title, pick the row with exactly that text. */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator(QUICK_INPUT);
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Ctrl+P → relative path → Enter, then waits until the editor shows `expectText`. */
export async function openFile(page, relPath, expectText) {
  await page.keyboard.press('Control+P');
  const input = page.locator(QUICK_INPUT);
  await input.waitFor();
  await input.fill(relPath);
  // Enter opens the focused row: until the list is filtered that is the most recent editor (in CI, a rank
  // log an earlier step opened came back instead of the file).
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: relPath.split('/').pop() }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator('.monaco-editor .view-lines', { hasText: expectText }).first().waitFor();
}

/** Opens the Testing view; the icon only exists once a TestController is registered. */
export async function openTestingView(page, timeout = 90_000) {
  const icon = page.locator(TESTING_ICON);
  await icon.waitFor({ timeout });
  // force: a badge on the icon (failed tests) can take the pointer.
  if (!(await page.locator('.test-explorer').isVisible().catch(() => false))) await icon.click({ force: true });
  await page.locator('.test-explorer').waitFor();
}

/** Expands every collapsed row of the test tree until none is left (children render lazily). */
export async function expandAllTests(page, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const collapsed = page.locator(`${TEST_ROW}[aria-expanded="false"] .monaco-tl-twistie.collapsible`);
    if ((await collapsed.count()) === 0) return;
    if (Date.now() > deadline) throw new Error('test tree still has collapsed rows');
    await collapsed.first().click();
    await page.waitForTimeout(50);
  }
}

/**
 * The visible test rows: `name` is the item label, `description` the TestItem description (distest
 * puts the rank count there) and `label` the aria-label, which VS Code builds from the description
 * (or the name when there is none) plus the state, e.g. `2 ranks (Passed), in 1.2s`.
 */
export async function testRows(page) {
  return page.locator(TEST_ROW).evaluateAll(rows => rows.map(row => {
    const label = row.querySelector('.label');
    return {
      id: row.id,
      label: row.getAttribute('aria-label') ?? '',
      name: [...(label?.childNodes ?? [])].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim(),
      description: label?.querySelector('.test-label-description')?.textContent?.trim() ?? '',
    };
  }));
}

/** The row whose item label is exactly `name` (the first one when several share it). */
export async function testRow(page, name) {
  const row = (await testRows(page)).find(r => r.name === name);
  if (!row) throw new Error(`no "${name}" row in the Testing view`);
  return page.locator(`${TEST_ROW}[id="${row.id}"]`);
}

/** Hovers the row and clicks its inline "Run Test" action. */
export async function runFromRow(page, name) {
  // The tree can shift under the pointer between the hover and the click (an update above the row, a
  // tooltip over it): the row is found and hovered again instead of waiting on a button that left.
  for (let attempt = 1; ; attempt++) {
    const row = await testRow(page, name);
    await row.scrollIntoViewIfNeeded();
    await row.hover();
    const clicked = await row.locator('.action-label[aria-label^="Run Test"]').click({ timeout: 5000 }).then(() => true, err => {
      if (attempt === 4) throw err;
      return false;
    });
    if (clicked) return;
    await page.mouse.move(0, 0);
  }
}

/** Waits until the row's aria-label reports a finished state and returns that aria-label. */
export async function waitForOutcome(page, name, timeout = 90_000) {
  const finished = /\((Passed|Failed|Errored|Skipped)\)/;
  const deadline = Date.now() + timeout;
  for (;;) {
    const label = (await testRows(page)).find(r => r.name === name)?.label ?? '';
    if (finished.test(label)) return label;
    if (Date.now() > deadline) throw new Error(`${name} did not finish within ${timeout / 1000} s (row: "${label}")`);
    await page.waitForTimeout(200);
  }
}

/**
 * The 1-based editor line a peek widget is anchored below: the line number whose bottom edge is
 * closest above the widget's top edge.
 */
export async function peekAnchorLine(peek) {
  return peek.evaluate(widget => {
    const editor = widget.closest('.monaco-editor');
    const top = widget.getBoundingClientRect().top;
    let best = null;
    for (const el of editor.querySelectorAll('.margin-view-overlays .line-numbers')) {
      const bottom = el.getBoundingClientRect().bottom;
      if (bottom <= top + 2 && (!best || bottom > best.bottom)) best = { bottom, line: Number(el.textContent.trim()) };
    }
    return best ? best.line : null;
  });
}
