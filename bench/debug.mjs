// Debug benchmark: time from the start of a Debug run to every rank stopped at a breakpoint on the test's
// first line (a DAP client attached to each endpoint as it appears), for 2 and 8 local ranks, against the
// same test's plain run measured in the same process; and continue-all latency across 8 ranks (continue
// sent to every rank → every rank's continue answered, i.e. running again). On the test cluster
// (test/cluster/up.sh, brought up and down again when it was not up; needs root; BENCH_CLUSTER=0 skips
// it): 4 ranks over two nodes (`--allocation hosts:dt-node1:2,dt-node2:2`) through the CLI, `--debug all
// --debug-endpoints FILE` with a client attached to each relayed endpoint, against the same `distest run`.
// Last stdout line: {"debug": {...}}.
import * as esbuild from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterClientEnv, clusterScript } from '../test/e2e/cluster.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const entryJs = path.join(root, '.bench/debug-entry.js');
const project = path.join(root, 'test/fixtures/debug-project');
const file = path.join(project, 'tests/test_debug.py');
const PYTHON = '/usr/bin/python3';
const FIRST_LINE = 8; // comm = MPI.COMM_WORLD
const RUNS = 3;
const spec = { id: 'tests/test_debug.py::test_ranks_meet', label: 'test_ranks_meet', file: 'tests/test_debug.py', range: { line: 7, column: 0, endLine: 11, endColumn: 1 }, framework: 'pytest-mpi', ranks: 2 };

await esbuild.build({
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  entryPoints: [path.join(root, 'bench/debug-entry.ts')], outfile: entryJs,
});
const { localAllocation, runTests, LocalHost, DapClient, DEFAULT_SETTINGS } = createRequire(import.meta.url)(entryJs);
// What a session hands runTests from the settings, at their defaults.
const settingDefaults = { defaultRanks: DEFAULT_SETTINGS.mpiDefaultRanks, cores: DEFAULT_SETTINGS.cores };
const alloc = await localAllocation(new LocalHost(), { python: PYTHON });

async function plain(ranks) {
  const t0 = performance.now();
  const [result] = await runTests([spec], { ...settingDefaults, root: project, alloc, ranksOverride: ranks });
  if (result.state !== 'passed') throw new Error(`plain run ${result.state}: ${JSON.stringify(result.messages)}`);
  return performance.now() - t0;
}

/**
 * DAP clients for a Debug run of `ranks` debugged ranks started at `t0`: `attach` one per endpoint as it
 * appears (breakpoint on the test's first line); `stopped` resolves with ms to every rank stopped;
 * `continueAll` resolves with its latency.
 */
function debugClients(ranks, t0) {
  const clients = [];
  const stops = [];
  const attaching = [];
  let allStopped;
  const stopped = new Promise(resolve => (allStopped = resolve));
  const attachOne = async endpoint => {
    const client = await DapClient.connect(endpoint.host, endpoint.port);
    clients.push(client);
    await client.attach({ breakpoints: { [file]: [FIRST_LINE] } });
    const event = await client.waitEvent('stopped', { timeoutMs: 120_000 });
    stops.push({ client, threadId: event.body.threadId });
    if (stops.length === ranks) allStopped(performance.now() - t0);
  };
  return {
    attach: endpoint => attaching.push(attachOne(endpoint)),
    stopped,
    async continueAll() {
      const c0 = performance.now();
      await Promise.all(stops.map(s => s.client.request('continue', { threadId: s.threadId })));
      return performance.now() - c0;
    },
    async close() {
      await Promise.all(attaching);
      for (const c of clients) c.destroy();
    },
  };
}

/** A Debug run of every rank: ms to all stopped, ms of the continue-all, total ms. */
async function debugged(ranks) {
  const t0 = performance.now();
  const clients = debugClients(ranks, t0);
  const running = runTests([spec], {
    ...settingDefaults, root: project, alloc, ranksOverride: ranks, debug: { ranks: 'all', waitSeconds: 120, breakOnFailure: false },
    listener: { debugEndpoint: clients.attach },
  });
  const stoppedMs = await clients.stopped;
  const continueMs = await clients.continueAll();
  const [result] = await running;
  await clients.close();
  if (result.state !== 'passed') throw new Error(`debug run ${result.state}: ${JSON.stringify(result.messages)}`);
  return { stoppedMs, continueMs, totalMs: performance.now() - t0 };
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Medians of plain-run times and Debug runs, and their ratio. */
function summary(plains, debugs) {
  const plainMs = median(plains);
  const stoppedMs = median(debugs.map(d => d.stoppedMs));
  return {
    plainRunMs: Math.round(plainMs), allStoppedMs: Math.round(stoppedMs), debugRunMs: Math.round(median(debugs.map(d => d.totalMs))),
    stoppedVsPlainRun: +(stoppedMs / plainMs).toFixed(2), continueAllMs: +median(debugs.map(d => d.continueMs)).toFixed(1),
  };
}
const out = {};
for (const ranks of [2, 8]) {
  const plains = [];
  const debugs = [];
  for (let i = 0; i < RUNS; i++) {
    plains.push(await plain(ranks));
    debugs.push(await debugged(ranks));
  }
  out[`local${ranks}`] = summary(plains, debugs);
  process.stderr.write(`${ranks} ranks: ${JSON.stringify(out[`local${ranks}`])}\n`);
}
if (process.env.BENCH_CLUSTER !== '0') {
  out.cluster4 = await clusterCase();
  process.stderr.write(`4 ranks on two cluster nodes: ${JSON.stringify(out.cluster4)}\n`);
}
process.stdout.write(`${JSON.stringify({ debug: out })}\n`);
process.exit(0);

/** The CLI's `run` in the fixture project; resolves with its exit time (ms) once it passed. */
function cliRun(args, env) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'dist/cli.js'), 'run', ...args], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', b => (output += b));
  child.stderr.on('data', b => (output += b));
  return new Promise((resolve, reject) => child.on('close', code => (code === 0
    ? resolve(performance.now() - t0)
    : reject(new Error(`distest run ${args.join(' ')}: exit ${code}\n${output.slice(-2000)}`)))));
}

/** 4 ranks on dt-node1 and dt-node2: plain run vs Debug run (all stopped at the first line, continue all). */
async function clusterCase() {
  const wasUp = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('dt-node1');
  clusterScript('up.sh');
  try {
    const env = { ...process.env, ...clusterClientEnv() };
    const base = ['--allocation', 'hosts:dt-node1:2,dt-node2:2', '--python', PYTHON, '--ranks', '4', spec.id];
    const plains = [];
    const debugs = [];
    for (let i = 0; i < RUNS; i++) {
      plains.push(await cliRun(base, env));
      debugs.push(await clusterDebugRun(base, env));
    }
    return summary(plains, debugs);
  } finally {
    if (!wasUp) clusterScript('down.sh');
  }
}

/** A `--debug all` CLI run: a DAP client on each endpoint line as it appears in the endpoints file. */
async function clusterDebugRun(base, env) {
  const endpoints = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-bench-debug-')), 'endpoints.jsonl');
  fs.writeFileSync(endpoints, '');
  const t0 = performance.now();
  const clients = debugClients(4, t0);
  let seen = 0;
  const poll = setInterval(() => {
    const lines = fs.readFileSync(endpoints, 'utf8').split('\n').filter(l => l.endsWith('}'));
    for (const line of lines.slice(seen)) clients.attach(JSON.parse(line));
    seen = lines.length;
  }, 20);
  const running = cliRun([...base, '--debug', 'all', '--debug-endpoints', endpoints, '--debug-wait', '120'], env);
  let stoppedMs;
  try {
    stoppedMs = await Promise.race([clients.stopped, running.then(() => { throw new Error('the debug run ended before every rank stopped'); })]);
  } finally {
    clearInterval(poll);
  }
  const continueMs = await clients.continueAll();
  const totalMs = await running;
  await clients.close();
  fs.rmSync(path.dirname(endpoints), { recursive: true, force: true });
  return { stoppedMs, continueMs, totalMs };
}
