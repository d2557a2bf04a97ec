// What the extension-host suites share: the demo workspace, its items, the outcomes a run reports, polling.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { parseItemId } from '../../../src/vscode/testTree';

export const workspaceUri = () => {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite needs the demo workspace open');
  return folder.uri;
};

/** Every TestItem under the controller, keyed by its pytest node id. */
export function itemsByNodeId(controller: vscode.TestController): Map<string, vscode.TestItem> {
  const out = new Map<string, vscode.TestItem>();
  const visit = (item: vscode.TestItem) => {
    out.set(parseItemId(item.id)?.nodeId ?? item.id, item);
    item.children.forEach(visit);
  };
  controller.items.forEach(visit);
  return out;
}

/** A test's state as reported, its messages' texts and where each message points (absent: nowhere). */
export type Outcome = { state: 'passed' | 'failed' | 'errored' | 'skipped'; messages: string[]; locations: Array<vscode.Location | undefined> };

/**
 * Records what the extension reports on the TestRuns it creates (the results API is not public), by
 * wrapping the controller's createTestRun.
 */
export function recordRuns(controller: vscode.TestController): { outcomes: Map<string, Outcome>; restore(): void } {
  const outcomes = new Map<string, Outcome>();
  const original = controller.createTestRun.bind(controller);
  const all = (m: vscode.TestMessage | readonly vscode.TestMessage[]): vscode.TestMessage[] => [m].flat();
  const reported = (state: Outcome['state'], m: vscode.TestMessage | readonly vscode.TestMessage[]): Outcome => ({
    state, messages: all(m).map(x => (typeof x.message === 'string' ? x.message : x.message.value)), locations: all(m).map(x => x.location),
  });
  controller.createTestRun = (request, name, persist) => {
    const run = original(request, name, persist);
    return Object.assign(Object.create(run) as vscode.TestRun, {
      passed: (item: vscode.TestItem, duration?: number) => { outcomes.set(item.id, reported('passed', [])); run.passed(item, duration); },
      skipped: (item: vscode.TestItem) => { outcomes.set(item.id, reported('skipped', [])); run.skipped(item); },
      failed: (item: vscode.TestItem, message: vscode.TestMessage | readonly vscode.TestMessage[], duration?: number) => {
        outcomes.set(item.id, reported('failed', message));
        run.failed(item, message, duration);
      },
      errored: (item: vscode.TestItem, message: vscode.TestMessage | readonly vscode.TestMessage[], duration?: number) => {
        outcomes.set(item.id, reported('errored', message));
        run.errored(item, message, duration);
      },
    });
  };
  return { outcomes, restore: () => { controller.createTestRun = original; } };
}

export async function poll<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise(r => setTimeout(r, 200));
  }
}
