// Hangs, crashes, core files and cleanup on real mpirun with real ranks (test/fixtures/faults-project).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { discoverFolder } from '../../src/core/discovery/folder';
import { localAllocation, type LocalAllocation } from '../../src/core/allocation/allocation';
import { parseAllocationSpec } from '../../src/core/allocation/spec';
import { runTests, type RunOptions } from '../../src/core/run/run';
import { runSession } from '../../src/core/run/session';
import { defaultSettings } from '../../src/core/settings';
import { LocalHost } from '../../src/core/transport/local';
import type { KilledProcess } from '../../src/core/transport/host';
import type { SweepResult } from '../../src/core/faults/sweep';
import type { TestResult, TestSpec } from '../../src/core/types';
import { processesWithEnv, waitUntilGone } from './procs';
import { SETTING_DEFAULTS } from './runDefaults';

const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without mpi4py
const PROJECT = path.resolve(__dirname, '../../../test/fixtures/faults-project');
const FILE = 'tests/test_faults.py';

let allocation: Promise<LocalAllocation> | undefined;
let specs: Promise<Map<string, TestSpec>> | undefined;

function alloc(): Promise<LocalAllocation> {
  return (allocation ??= localAllocation(new LocalHost(), { python: PYTHON, oversubscribe: true }));
}

async function spec(name: string): Promise<TestSpec> {
  specs ??= discoverFolder(PROJECT, { launchers: [], mpiDefaultRanks: 2 }).then(files => new Map(files.flatMap(f => f.tests).map(t => [t.id, t])));
  const found = (await specs).get(`${FILE}::${name}`);
  assert.ok(found, `${name} discovered`);
  return found;
}

function removeCores(): void {
  for (const name of fs.readdirSync(PROJECT)) if (/^core(\.\d+)?$/.test(name)) fs.rmSync(path.join(PROJECT, name), { force: true });
  fs.rmSync(path.join(PROJECT, '.distest'), { recursive: true, force: true });
}

/** A run's cores folder: `.distest/cores/<start stamp>-<run id>` in the project, where the ranks ran. */
const CORES_FOLDER = new RegExp(`^${PROJECT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.distest/cores/\\d{8}T\\d{6}-[0-9a-f]{8}/`);

function coreRunFolders(): string[] {
  return fs.readdirSync(path.join(PROJECT, '.distest/cores')).sort();
}
after(removeCores);

interface Outcome { result: TestResult; cleanup: SweepResult[]; token: string; ms: number }

async function run(name: string, opts: Partial<RunOptions> = {}): Promise<Outcome> {
  const token = Math.random().toString(16).slice(2) + Date.now().toString(16);
  const cleanup: SweepResult[] = [];
  const started = Date.now();
  const [result] = await runTests([await spec(name)], { ...SETTING_DEFAULTS,
    root: PROJECT, alloc: await alloc(), runId: token, timeoutMs: 60_000, ...opts,
    listener: { cleanup: r => cleanup.push(r), ...opts.listener },
  });
  const ms = Date.now() - started;
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token)), [], 'nothing of the run is left');
  return { result, cleanup, token, ms };
}

function messageAt(result: TestResult, line: number): string {
  const message = result.messages.find(m => m.file === FILE && m.line === line);
  assert.ok(message, `a message at ${FILE}:${line} in ${JSON.stringify(result.messages, null, 1)}`);
  return message.text;
}

test('the timeout mark is discovered', async () => {
  assert.equal((await spec('test_deadlock_both_recv')).timeoutSeconds, 3);
  assert.equal((await spec('test_rank_1_segfaults')).timeoutSeconds, undefined);
});

test('deadlock (both ranks in recv): one group, located at the recv line', async () => {
  const { result } = await run('test_deadlock_both_recv', { nativeStacks: true });
  assert.equal(result.state, 'errored');
  const text = messageAt(result, 19);
  assert.match(text, /^ranks 0, 1 \(\S+\) wait in test_deadlock_both_recv\(\) at tests\/test_faults\.py:19: comm\.recv\(source=other\)/);
  assert.match(result.messages.map(m => m.text).join('\n'), /faulthandler \(SIGUSR1\); native stacks from gdb -p/);
  assert.match(text, /\nnative stack of rank 0 \(gdb, main thread\):\n#0 /);
  assert.deepEqual(result.faults?.map(f => [f.kind, f.rank, f.line]), [['hang', 0, 19], ['hang', 1, 19]]);
});

test('barrier one rank never reaches: two groups, each at its own line', async () => {
  const { result } = await run('test_barrier_one_rank_missing');
  assert.equal(result.state, 'errored');
  assert.match(messageAt(result, 27), /^rank 0 .* waits in test_barrier_one_rank_missing\(\) at tests\/test_faults\.py:27: comm\.Barrier\(\)/);
  assert.match(messageAt(result, 26), /^rank 1 .* time\.sleep\(3600\)/);
});

test('segfault on rank 1: signal with host and Python location, core analysed by gdb', async () => {
  removeCores();
  const { result } = await run('test_rank_1_segfaults');
  assert.equal(result.state, 'errored');
  assert.match(messageAt(result, 34), /^SIGSEGV on rank 1 \(\S+\) \(Fatal Python error: Segmentation fault\) in test_rank_1_segfaults\(\) at tests\/test_faults\.py:34: ctypes\.string_at\(0\)/);
  const signal = result.faults?.find(f => f.kind === 'signal');
  assert.deepEqual([signal?.rank, signal?.signal, signal?.file, signal?.line], [1, 'SIGSEGV', FILE, 34]);
  const core = result.faults?.find(f => f.kind === 'core');
  assert.ok(core?.core, `a core fault in ${JSON.stringify(result.messages, null, 1)}`);
  assert.ok(fs.existsSync(core.core), 'the core is kept');
  assert.match(core.core, new RegExp(`${CORES_FOLDER.source}core\\.rank1\\.pid\\d+$`), 'in the run\'s own folder, named by rank and pid');
  assert.equal(fs.existsSync(path.join(PROJECT, 'core')), false, 'not in the project folder');
  assert.match(fs.readFileSync(path.join(PROJECT, '.distest/.gitignore'), 'utf8'), /^\*$/m);
  assert.deepEqual([core.rank, core.line], [1, 34]);
  assert.ok(result.messages.some(m => m.text.includes(`core ${core.core}`) && m.text.includes('native backtrace')));
  removeCores();
});

test('os.abort() on rank 1: SIGABRT at the abort line; beyond distest.cores.maxPerRun the core is kept, not analysed; cores of the newest keepRuns runs stay', async () => {
  removeCores();
  const kept: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { result } = await run('test_rank_1_aborts', { cores: { enable: true, maxPerRun: 0, keepRuns: 2 } });
    assert.equal(result.state, 'errored');
    assert.match(messageAt(result, 42), /^SIGABRT on rank 1 .*os\.abort\(\)/);
    assert.equal(result.faults?.some(f => f.kind === 'core'), false);
    const note = result.messages.map(m => /^core (\S+) of rank 1 not analysed: distest\.cores\.maxPerRun \(0\) reached/.exec(m.text)).find(Boolean);
    assert.ok(note, JSON.stringify(result.messages));
    assert.match(note[1], new RegExp(`${CORES_FOLDER.source}core\\.rank1\\.pid\\d+$`));
    assert.equal(fs.existsSync(path.join(PROJECT, 'core')), false, 'not in the project folder');
    kept.push(path.basename(path.dirname(note[1])));
    // Run folders are named to the second.
    if (i < 2) await new Promise(resolve => setTimeout(resolve, 1100));
  }
  assert.deepEqual(coreRunFolders(), kept.slice(1), 'the oldest run\'s cores are gone, the two newest are kept');
  removeCores();
});

test('the silence watchdog stops a launch nobody writes anything in', async () => {
  const { result } = await run('test_sleeps', { silenceMs: 1000 });
  assert.equal(result.state, 'errored');
  assert.ok(result.messages.some(m => m.text === 'no output and no result from any rank for 1 s (distest.silenceSeconds)'), JSON.stringify(result.messages));
});

test('a parent blocked in wait with defunct children is named', async () => {
  const { result } = await run('test_waits_on_defunct_children');
  assert.equal(result.state, 'errored');
  messageAt(result, 53);
  assert.match(result.messages.map(m => m.text).join('\n'), /rank 0 \(pid \d+, \S+\) is blocked in wait \(do_wait\) and has 2 defunct children it never reaped/);
});

test('a rank that ignores SIGTERM is killed anyway', async () => {
  const { result } = await run('test_ignores_sigterm');
  assert.equal(result.state, 'errored');
  messageAt(result, 60);
});

test('a detached daemon a passing test leaves is swept', async () => {
  const { result, cleanup } = await run('test_leaves_a_daemon');
  assert.equal(result.state, 'passed', JSON.stringify(result.messages));
  assert.equal(cleanup.length, 1);
  assert.ok(cleanup[0].killed.length >= 2, `killed ${JSON.stringify(cleanup[0].killed)}`);
});

test('the sweep of this machine kills the processes that carry the run id, and no other (nor one whose id only starts with it)', async () => {
  const runId = `sweep${process.pid}`;
  const start = (env: Record<string, string>) => spawn('sleep', ['60'], { env: { ...process.env, ...env }, detached: true, stdio: 'ignore' });
  const ours = [start({ DISTEST_RUN_ID: runId }), start({ FIRST: 'x', DISTEST_RUN_ID: runId, LAST: 'y' })];
  const others = [start({ DISTEST_RUN_ID: `${runId}0` }), start({ OTHER_RUN_ID: runId }), start({ NOTE: `DISTEST_RUN_ID=${runId}x` })];
  try {
    await new Promise(resolve => setTimeout(resolve, 200));
    const killed = await new LocalHost().killCarrying(`DISTEST_RUN_ID=${runId}`);
    assert.deepEqual(killed.map(k => k.pid).sort(), ours.map(p => p.pid).sort());
    assert.ok(killed.every(k => k.command === 'sleep 60'), JSON.stringify(killed));
    assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId), 5000), []);
    assert.ok(others.every(p => p.exitCode === null && p.signalCode === null), 'the other processes still run');
  } finally {
    for (const p of [...ours, ...others]) p.kill('SIGKILL');
  }
});

/** This machine, where the end-of-run sweep takes `delayMs` longer. */
class SlowSweepHost extends LocalHost {
  constructor(private readonly delayMs: number) {
    super();
  }

  override async killCarrying(entry: string): Promise<KilledProcess[]> {
    await new Promise(resolve => setTimeout(resolve, this.delayMs));
    return super.killCarrying(entry);
  }
}

test('the session reports results when the tests end; the sweep comes after, and the next run on the machine waits for it', async () => {
  const events: [string, number][] = [];
  const at = (what: string) => events.push([what, Date.now()]);
  const session = (name: string, events: Parameters<typeof runSession>[1]['events']) => async () => {
    const local = await alloc();
    return runSession([await spec(name)], {
      root: PROJECT,
      settings: { ...defaultSettings(), pythonPath: PYTHON },
      allocation: { label: 'local', resolve: async () => ({ allocation: { ...local, host: new SlowSweepHost(SWEEP_DELAY_MS) }, spec: parseAllocationSpec('local') }) },
      events,
    });
  };
  const SWEEP_DELAY_MS = 3000;
  let second: Promise<unknown> | undefined;
  const first = await session('test_leaves_a_daemon', {
    result: r => at(`result ${r.state}`),
    finished: () => {
      at('finished');
      second = session('test_leaves_a_daemon', { started: () => at('second started') })();
    },
    cleanup: r => at(`cleanup ${r.killed.length >= 2}`),
  })();
  at('session');
  await second;
  const order = events.map(e => e[0]);
  assert.deepEqual(order, ['result passed', 'finished', 'cleanup true', 'session', 'second started'], JSON.stringify(events));
  const when = new Map(events);
  assert.ok((when.get('cleanup true') ?? 0) - (when.get('finished') ?? 0) >= SWEEP_DELAY_MS - 200, JSON.stringify(events));
  assert.equal(first.cleanup.length, 1);
});

test('distest run --json: faults per test and the cleanup sweep', async () => {
  removeCores();
  const cli = path.resolve(__dirname, '../../../dist/cli.js');
  const ids = [`${FILE}::test_rank_1_aborts`, `${FILE}::test_leaves_a_daemon`];
  // The tests are out on stdout before the sweep's note ("killed 2 stray processes") reaches stderr.
  const arrivals: string[] = [];
  const stdout = await new Promise<string>(resolve => {
    const child = spawn(process.execPath, [cli, 'run', PROJECT, ...ids, '--json', '--python', PYTHON], { timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', b => {
      out += b;
      if (out.includes('"tests"') && !arrivals.includes('tests')) arrivals.push('tests');
      if (out.includes('"cleanup"')) arrivals.push('cleanup');
    });
    child.stderr.on('data', b => {
      err += b;
      if (/killed \d+ stray process/.test(err) && !arrivals.includes('sweep note')) arrivals.push('sweep note');
    });
    child.on('close', () => resolve(out));
  });
  removeCores();
  assert.deepEqual(arrivals.filter((a, i) => arrivals.indexOf(a) === i), ['tests', 'sweep note', 'cleanup']);
  const report = JSON.parse(stdout) as {
    tests: { id: string; state: string; faults: { kind: string; rank: number; host: string; signal: string | null; file: string | null; line: number | null; stack: unknown[] }[] }[];
    cleanup: { killed: number; hosts: string[] };
  };
  const aborted = report.tests.find(t => t.id === ids[0]);
  assert.equal(aborted?.state, 'errored');
  const signal = aborted.faults.find(f => f.kind === 'signal');
  assert.deepEqual([signal?.rank, signal?.signal, signal?.file, signal?.line], [1, 'SIGABRT', FILE, 42]);
  assert.ok(signal?.host && signal.stack.length > 0);
  assert.equal(report.tests.find(t => t.id === ids[1])?.state, 'passed');
  assert.ok(report.cleanup.killed >= 2, JSON.stringify(report.cleanup));
  assert.deepEqual(report.cleanup.hosts, ['local']);
});

test('20 cancel cycles in a row leave nothing', async () => {
  const sleeps = await spec('test_sleeps');
  for (let i = 0; i < 20; i++) {
    const abort = new AbortController();
    const token = `cancel${i}x${Date.now()}`;
    const [result] = await runTests([sleeps], { ...SETTING_DEFAULTS,
      root: PROJECT, alloc: await alloc(), runId: token, signal: abort.signal,
      listener: { started: () => abort.abort() },
    });
    assert.equal(result.state, 'errored');
    assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token)), [], `cycle ${i}`);
  }
});

test('8 ranks: time from timeout to diagnostics', async () => {
  let startedAt = 0;
  let resultAt = 0;
  const { result } = await run('test_deadlock_both_recv', {
    ranksOverride: 8,
    listener: { started: () => (startedAt ||= Date.now()), result: () => (resultAt = Date.now()) },
  });
  assert.equal(result.state, 'errored');
  assert.match(messageAt(result, 19), /^ranks 0, 1, 2, 3, 4, 5, 6, 7 /);
  // The limit is 3 s from the test's start; what is left is capture, kill and analysis.
  process.stdout.write(`# 8 ranks: diagnostics ${((resultAt - startedAt - 3000) / 1000).toFixed(2)} s after the timeout\n`);
});
