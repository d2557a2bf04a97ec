// Debug runs inside a real extension host, with real mpirun ranks under Debian's debugpy: the Debug
// profile, the distest-rank descriptor factory (a DebugAdapterServer per rank endpoint), the parent
// session carrying the test run, the all-ranks commands, and Stop ending every process.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { DistestApi } from '../../../src/extension';
import type { DebugRun, RankState } from '../../../src/vscode/debugSessions';
import { itemsByNodeId, poll, recordRuns, workspaceUri } from './helpers';

const TEST_ID = 'tests/test_halo.py::test_halo_exchange[2]';
const FILE = 'tests/test_halo.py';
/** The line (1-based) of `text` after `after` in the demo file. */
const lineOf = (after: string, text: string): number => {
  const lines = fs.readFileSync(vscode.Uri.joinPath(workspaceUri(), FILE).fsPath, 'utf8').split('\n');
  const start = lines.findIndex(l => l.includes(after));
  const index = lines.findIndex((l, i) => i > start && l.includes(text));
  assert.ok(start >= 0 && index >= 0, `no "${text}" after "${after}" in ${FILE}`);
  return index + 1;
};

/** A run's processes in the workspace: mpirun, the ranks' pytest, debugpy adapters (not the editor's language servers). */
function processesInWorkspace(): string[] {
  const root = fs.realpathSync(workspaceUri().fsPath);
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if ((cwd === root || cwd.startsWith(`${root}/`)) && /mpirun|orted|prterun|pytest|debugpy/.test(cmdline)) found.push(`${pid} ${cmdline.slice(0, 160)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

interface DebugStart {
  debugRun: DebugRun;
  /** Settles when the test run has ended. */
  done: Promise<void>;
  outcomes: ReturnType<typeof recordRuns>['outcomes'];
  /** Stops the run if it still goes (a test that failed half-way must not leave it to the next) and stops recording. */
  restore(): Promise<void>;
  /** ms from the Debug request to every rank stopped. */
  stoppedAfterMs: number;
  ranks: RankState[];
}

suite('Debug runs in a real extension host', () => {
  let api: DistestApi;
  let item: vscode.TestItem;
  let breakpoint: vscode.SourceBreakpoint;
  /** Every debug session started and not yet terminated, to name the ones left when a test waits in vain. */
  const live = new Map<string, vscode.DebugSession>();
  const noSessionLeft = () => poll('no debug session left', () => (live.size ? undefined : true), 15_000)
    .catch(err => { throw new Error(`${(err as Error).message}; left: ${[...live.values()].map(s => `${s.name} (${s.type}${s.parentSession ? `, child of ${s.parentSession.name}` : ''})`).join(', ')}`); });

  const subscriptions: vscode.Disposable[] = [];

  suiteSetup(async () => {
    subscriptions.push(
      vscode.debug.onDidStartDebugSession(s => live.set(s.id, s)),
      vscode.debug.onDidTerminateDebugSession(s => live.delete(s.id)),
    );
    const extension = vscode.extensions.getExtension<DistestApi>('distest.distest');
    assert.ok(extension);
    api = await extension.activate();
    await api.discovered;
    const found = itemsByNodeId(api.controller).get(TEST_ID);
    assert.ok(found, `no item ${TEST_ID}`);
    item = found;
    // test_halo_exchange's line after `cells` is set: both ranks reach it.
    const line = lineOf('def test_halo_exchange', 'left, right = neighbours(comm)') - 1;
    breakpoint = new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.joinPath(workspaceUri(), FILE), new vscode.Position(line, 0)));
  });

  suiteTeardown(() => subscriptions.forEach(s => s.dispose()));
  setup(() => vscode.debug.addBreakpoints([breakpoint]));
  teardown(() => vscode.debug.removeBreakpoints([breakpoint]));

  /** Starts a Debug run of the 2-rank test and waits until both ranks stopped at the breakpoint. */
  async function debugUntilBothStopped(): Promise<DebugStart> {
    const recorder = recordRuns(api.controller);
    let debugRun: DebugRun | undefined;
    const started = Date.now();
    const done = api.debugTests([item], 'all', { onDebugRun: r => (debugRun = r) });
    const ranks = await poll('two rank sessions stopped at the breakpoint', () => {
      const launch = debugRun?.launchList()[0];
      const states = launch ? api.debugSessions.ranksOf(launch) : [];
      return states.length === 2 && states.every(s => s.stoppedThread !== undefined) ? states : undefined;
    }, 90_000);
    assert.ok(debugRun);
    let ended = false;
    const markEnded = () => { ended = true; };
    done.then(markEnded, markEnded);
    const restore = async () => {
      if (!ended) {
        debugRun?.stop();
        await Promise.race([done, new Promise(r => setTimeout(r, 30_000))]);
      }
      recorder.restore();
    };
    return { debugRun, done, outcomes: recorder.outcomes, restore, stoppedAfterMs: Date.now() - started, ranks };
  }

  test('Debug: a parent session per launch carrying the run, a rank session each, stopped at the line, Continue All Ranks → passed', async function () {
    this.timeout(180_000);
    const start = await debugUntilBothStopped();
    try {
      const launch = start.debugRun.launchList()[0];
      assert.equal(launch.parent?.name, 'test_halo_exchange[2] · 2 ranks');
      assert.deepEqual(start.ranks.map(s => s.session.name.replace(/\(.*\)$/, '(host)')), ['rank 0 of 2 (host)', 'rank 1 of 2 (host)']);
      for (const state of start.ranks) {
        assert.equal(state.session.parentSession?.id, launch.parent?.id, `${state.session.name} is a child of the launch's session`);
        assert.equal(state.session.type, 'distest-rank');
        // Stopped at the breakpoint's line, and the rank's own comm.rank there.
        const { stackFrames } = await state.session.customRequest('stackTrace', { threadId: state.stoppedThread, levels: 1 }) as { stackFrames: { id: number; line: number; name: string }[] };
        assert.equal(stackFrames[0].line, breakpoint.location.range.start.line + 1, `${state.session.name} stopped in ${stackFrames[0].name}:${stackFrames[0].line}`);
        const value = await state.session.customRequest('evaluate', { expression: 'comm.rank', frameId: stackFrames[0].id, context: 'watch' }) as { result: string };
        assert.equal(value.result, String(state.rank), `comm.rank in ${state.session.name}`);
      }
      console.log(`    both ranks stopped ${start.stoppedAfterMs} ms after the Debug request (first stops per rank: ${[...start.debugRun.stats.firstStopMs].map(([r, ms]) => `r${r} ${ms} ms`).join(', ')})`);
      const t0 = Date.now();
      assert.equal(await vscode.commands.executeCommand('distest.debug.continueAll', { sessionId: start.ranks[0].session.id }), 2);
      await start.done;
      console.log(`    Continue All Ranks → run ended in ${Date.now() - t0} ms`);
      assert.equal(start.outcomes.get(item.id)?.state, 'passed', JSON.stringify(start.outcomes.get(item.id)));
      // The sessions of the launch are gone once the run has ended.
      await noSessionLeft();
    } finally {
      await start.restore();
    }
  });

  test('Pause All Ranks and Step Over All Ranks act on every rank', async function () {
    this.timeout(180_000);
    const start = await debugUntilBothStopped();
    try {
      const line = (state: RankState) => Promise.resolve(state.session.customRequest('stackTrace', { threadId: state.stoppedThread, levels: 1 }))
        .then(r => (r as { stackFrames: { line: number }[] }).stackFrames[0].line);
      assert.equal(await api.debugSessions.stepOverAll(start.debugRun.launchList()[0]), 2);
      const stepped = await poll('both ranks stopped on the next line', () => (start.ranks.every(s => s.stoppedThread !== undefined) ? true : undefined), 30_000);
      assert.ok(stepped);
      for (const state of start.ranks) assert.equal(await line(state), breakpoint.location.range.start.line + 2, `${state.session.name} after Step Over All Ranks`);
      // Pause asks only running ranks: none here.
      assert.equal(await api.debugSessions.pauseAll(start.debugRun.launchList()[0]), 0);
      assert.equal(await api.debugSessions.continueAll(start.debugRun.launchList()[0]), 2);
      await start.done;
      assert.equal(start.outcomes.get(item.id)?.state, 'passed');
    } finally {
      await start.restore();
    }
  });

  test('Stop on the launch session ends the run, every rank, mpirun and each debugpy adapter', async function () {
    this.timeout(180_000);
    const start = await debugUntilBothStopped();
    try {
      const pids = start.debugRun.endpoints.map(e => e.pid);
      assert.ok(processesInWorkspace().length >= 3, `ranks and mpirun run in the workspace: ${processesInWorkspace().join(' | ')}`);
      const t0 = Date.now();
      await vscode.debug.stopDebugging(start.debugRun.launchList()[0].parent);
      await Promise.race([start.done, new Promise((_, reject) => setTimeout(() => reject(new Error('the run did not end within 30 s of Stop')), 30_000))]);
      const left = await poll('no process left in the workspace', () => (processesInWorkspace().length ? undefined : true), 15_000).catch(() => processesInWorkspace());
      assert.equal(left, true, `left running: ${String(left)}`);
      console.log(`    Stop → run ended and every process gone in ${Date.now() - t0} ms`);
      // Gone, or a zombie its (dead) parent left for init to reap: nothing runs.
      const state = (pid: number) => { try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]; } catch { return 'gone'; } };
      for (const pid of pids) assert.ok(['gone', 'Z', 'X'].includes(state(pid)), `rank pid ${pid} is ${state(pid)}`);
      assert.notEqual(start.outcomes.get(item.id)?.state, 'passed');
      await noSessionLeft();
    } finally {
      await start.restore();
    }
  });
});
