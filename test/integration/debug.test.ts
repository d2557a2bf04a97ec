// Debug runs through the built CLI (`distest run --debug`), with real mpirun, real debugpy (Debian's
// python3-debugpy) and a real DAP client (dapClient.ts) attached to every endpoint distest hands out.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DapClient, parseEndpointLines, type EndpointLine } from './dapClient';
import { processesWithEnv, waitUntilGone, type ProcInfo } from './procs';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const PROJECT = path.join(REPO, 'test/fixtures/debug-project');
const TEST_FILE = path.join(PROJECT, 'tests/test_debug.py');
const MEET = 'tests/test_debug.py::test_ranks_meet';
const FAILS = 'tests/test_debug.py::test_fails_on_rank_1';
/** `value = comm.rank * 10` in test_ranks_meet; the assert of test_fails_on_rank_1. */
const BREAK_LINE = 9;
const ASSERT_LINE = 17;
const PYTHON = '/usr/bin/python3'; // Debian's: mpi4py, pytest, pytest-mpi and debugpy

interface DebugCli {
  child: ChildProcess;
  mark: string;
  /** Resolves when the CLI exits. */
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  /** Resolves once `count` endpoint lines are in the file. */
  endpoints(count: number, timeoutMs?: number): Promise<EndpointLine[]>;
  file: string;
}

/** Starts `distest run --debug RANKS --json` on the fixture; every process of the run carries DISTEST_TEST_MARK. */
function debugCli(args: string[]): DebugCli {
  const mark = randomBytes(8).toString('hex');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-debug-')), 'endpoints.jsonl');
  const child = spawn(process.execPath, [CLI, 'run', PROJECT, '--json', '--debug-endpoints', file, ...args], {
    cwd: PROJECT, env: { ...process.env, DISTEST_TEST_MARK: mark }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', b => (stdout += b));
  child.stderr?.on('data', b => (stderr += b));
  const closed = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(resolve =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  // A run that does not end is a failure with the CLI's words, not a suite that hangs.
  const done = Promise.race([closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the run did not end in 90 s:\n${stderr.slice(-3000)}`)), 90_000).unref())]);
  let exited = false;
  void closed.then(() => (exited = true));
  const endpoints = async (count: number, timeoutMs = 30_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const lines = fs.existsSync(file) ? parseEndpointLines(fs.readFileSync(file, 'utf8')) : [];
      if (lines.length >= count) return lines;
      if (exited || Date.now() > end) throw new Error(`${lines.length} of ${count} endpoints; CLI stderr:\n${stderr.slice(-3000)}`);
      await new Promise(r => setTimeout(r, 50));
    }
  };
  return { child, mark, done, endpoints, file };
}

/** Every process of the run (ranks, debugpy adapters, mpirun, bridges) is gone. */
async function nothingLeft(mark: string): Promise<ProcInfo[]> {
  return waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark), 10_000);
}

function results(stdout: string): Map<string, { state: string; messages: { text: string }[] }> {
  const report = JSON.parse(stdout) as { tests: { id: string; state: string; messages: { text: string }[] }[] };
  return new Map(report.tests.map(t => [t.id, t]));
}

/** Attaches to an endpoint with a breakpoint at `line` and waits until that rank stops there. */
async function stopAt(endpoint: EndpointLine, line: number): Promise<{ client: DapClient; threadId: number; frameId: number }> {
  const client = await DapClient.connect(endpoint.host, endpoint.port);
  await client.attach({ breakpoints: { [TEST_FILE]: [line] }, pathMappings: endpoint.pathMappings });
  const stopped = await client.waitEvent('stopped', { timeoutMs: 60_000 });
  const threadId = stopped.body?.threadId as number;
  const frame = await client.topFrame(threadId);
  assert.equal(frame.line, line, `rank ${endpoint.rank} stopped at ${frame.source?.path}:${frame.line}`);
  assert.equal(frame.source?.path, TEST_FILE);
  return { client, threadId, frameId: frame.id };
}

test('debug all ranks of a 2-rank test: each stops at the breakpoint with its own comm.rank, continues, passes; nothing left', async () => {
  // --timeout 5 while the ranks are held at the breakpoint for 6 s: paused ranks are not a hang.
  const run = debugCli(['--debug', 'all', '--debug-wait', '60', '--timeout', '5', '--python', PYTHON, MEET]);
  try {
    const endpoints = await run.endpoints(2);
    assert.deepEqual(endpoints.map(e => e.rank).sort(), [0, 1]);
    for (const e of endpoints) {
      assert.equal(e.host, '127.0.0.1');
      assert.equal(e.size, 2);
      assert.equal(e.node, os.hostname());
    }
    const stops = await Promise.all(endpoints.map(e => stopAt(e, BREAK_LINE)));
    for (const [i, e] of endpoints.entries()) {
      assert.equal(await stops[i].client.evaluate('comm.rank', stops[i].frameId), String(e.rank));
    }
    await new Promise(r => setTimeout(r, 6000));
    await Promise.all(stops.map(s => s.client.request('continue', { threadId: s.threadId })));
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr.slice(-3000));
    assert.equal(results(res.stdout).get(MEET)?.state, 'passed');
    for (const s of stops) s.client.destroy();
  } finally {
    run.child.kill('SIGKILL');
  }
  assert.deepEqual(await nothingLeft(run.mark), [], 'no rank, adapter or launcher is left');
});

test('debug rank 1 of 4: one endpoint, the other ranks run free and wait in the collective', async () => {
  const run = debugCli(['--debug', '1', '--debug-wait', '60', '--ranks', '4', '--python', PYTHON, MEET]);
  try {
    const [endpoint] = await run.endpoints(1);
    assert.deepEqual([endpoint.rank, endpoint.size], [1, 4]);
    const stop = await stopAt(endpoint, BREAK_LINE);
    assert.equal(await stop.client.evaluate('comm.rank', stop.frameId), '1');
    await stop.client.request('continue', { threadId: stop.threadId });
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr.slice(-3000));
    assert.equal(parseEndpointLines(fs.readFileSync(run.file, 'utf8')).length, 1, 'only rank 1 listened');
    assert.equal(results(res.stdout).get(MEET)?.state, 'passed');
    stop.client.destroy();
  } finally {
    run.child.kill('SIGKILL');
  }
  assert.deepEqual(await nothingLeft(run.mark), []);
});

test('break on failure: a failed assertion stops rank 1 in the test\'s frame (userUnhandled filter), the test fails', async () => {
  const run = debugCli(['--debug', '1', '--debug-wait', '60', '--python', PYTHON, FAILS]);
  try {
    const [endpoint] = await run.endpoints(1);
    const client = await DapClient.connect(endpoint.host, endpoint.port);
    await client.attach({ exceptionFilters: ['uncaught', 'userUnhandled'] });
    const stopped = await client.waitEvent('stopped', { timeoutMs: 60_000 });
    assert.equal(stopped.body?.reason, 'exception');
    const frame = await client.topFrame(stopped.body?.threadId as number);
    assert.deepEqual([frame.source?.path, frame.line], [TEST_FILE, ASSERT_LINE]);
    assert.match(frame.name, /^test_fails_on_rank_1/);
    await client.request('continue', { threadId: stopped.body?.threadId });
    const res = await run.done;
    assert.equal(res.code, 1);
    assert.equal(results(res.stdout).get(FAILS)?.state, 'failed');
    client.destroy();
  } finally {
    run.child.kill('SIGKILL');
  }
  assert.deepEqual(await nothingLeft(run.mark), []);
});

test('the client dies while both ranks are paused: debugpy lets them run on, the test passes, nothing left', async () => {
  const run = debugCli(['--debug', 'all', '--debug-wait', '60', '--python', PYTHON, MEET]);
  try {
    const endpoints = await run.endpoints(2);
    const stops = await Promise.all(endpoints.map(e => stopAt(e, BREAK_LINE)));
    for (const s of stops) s.client.destroy();
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr.slice(-3000));
    assert.equal(results(res.stdout).get(MEET)?.state, 'passed');
  } finally {
    run.child.kill('SIGKILL');
  }
  assert.deepEqual(await nothingLeft(run.mark), []);
});

test('cancel (SIGTERM to the CLI) while both ranks are paused: every rank, adapter and mpirun ends', async () => {
  const run = debugCli(['--debug', 'all', '--debug-wait', '60', '--python', PYTHON, MEET]);
  try {
    const endpoints = await run.endpoints(2);
    const stops = await Promise.all(endpoints.map(e => stopAt(e, BREAK_LINE)));
    const adapters = processesWithEnv('DISTEST_TEST_MARK', run.mark).filter(p => /debugpy[/.]adapter/.test(p.cmdline));
    assert.equal(adapters.length, 2, 'a debugpy adapter per rank while paused');
    run.child.kill('SIGTERM');
    const res = await run.done;
    assert.equal(res.code, 143, res.stderr.slice(-3000));
    assert.equal(results(res.stdout).get(MEET)?.state, 'errored');
    for (const s of stops) s.client.destroy();
  } finally {
    run.child.kill('SIGKILL');
  }
  assert.deepEqual(await nothingLeft(run.mark), []);
});

test('a python without debugpy: the run ends at once naming that python and the install command', async () => {
  const pyenvPython = path.join(os.homedir(), '.pyenv/shims/python3');
  const run = debugCli(['--debug', 'all', '--python', fs.existsSync(pyenvPython) ? pyenvPython : 'python3', MEET]);
  const started = Date.now();
  const res = await Promise.race([run.done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the run hangs')), 30_000))]);
  assert.ok(Date.now() - started < 20_000);
  assert.equal(res.code, 1, res.stderr.slice(-2000));
  const text = results(res.stdout).get(MEET)?.messages.map(m => m.text).join('\n') ?? '';
  assert.match(text, /^debugpy is not importable by \/\S+ on \S+ \(No module named 'debugpy'\): install it for that python \(Debian\/Ubuntu: apt-get install python3-debugpy; pip: \S+ -m pip install debugpy\)$/m);
  assert.deepEqual(await nothingLeft(run.mark), []);
});
