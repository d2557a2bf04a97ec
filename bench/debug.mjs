// Debug benchmark: time from the start of a Debug run to every rank stopped at a breakpoint on the test's
// first line (a DAP client attached to each endpoint as it appears), for 2 and 8 local ranks, against the
// same test's plain run measured in the same process; and continue-all latency across 8 ranks (continue
// sent to every rank → every rank's continue answered, i.e. running again). Cluster runs are not
// measured here (see the last line's `cluster`).
// Last stdout line: {"debug": {...}}.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

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
const { localAllocation, runTests, LocalHost, DapClient } = createRequire(import.meta.url)(entryJs);
const alloc = await localAllocation(new LocalHost(), { python: PYTHON });

async function plain(ranks) {
  const t0 = performance.now();
  const [result] = await runTests([spec], { root: project, alloc, ranksOverride: ranks });
  if (result.state !== 'passed') throw new Error(`plain run ${result.state}: ${JSON.stringify(result.messages)}`);
  return performance.now() - t0;
}

/** A Debug run of every rank: ms to all stopped, ms of the continue-all, total ms. */
async function debugged(ranks) {
  const t0 = performance.now();
  const clients = [];
  let allStopped;
  const stopped = new Promise(resolve => (allStopped = resolve));
  const stops = [];
  let stoppedMs = 0;
  let continueMs = 0;
  const attach = async endpoint => {
    const client = await DapClient.connect(endpoint.host, endpoint.port);
    clients.push(client);
    await client.attach({ breakpoints: { [file]: [FIRST_LINE] } });
    const event = await client.waitEvent('stopped', { timeoutMs: 120_000 });
    stops.push({ client, threadId: event.body.threadId });
    if (stops.length === ranks) {
      stoppedMs = performance.now() - t0;
      allStopped();
    }
  };
  const attaching = [];
  const running = runTests([spec], {
    root: project, alloc, ranksOverride: ranks, debug: { ranks: 'all', waitSeconds: 120, breakOnFailure: false },
    listener: { debugEndpoint: e => attaching.push(attach(e)) },
  });
  await stopped;
  const c0 = performance.now();
  await Promise.all(stops.map(s => s.client.request('continue', { threadId: s.threadId })));
  continueMs = performance.now() - c0;
  const [result] = await running;
  await Promise.all(attaching);
  for (const c of clients) c.destroy();
  if (result.state !== 'passed') throw new Error(`debug run ${result.state}: ${JSON.stringify(result.messages)}`);
  return { stoppedMs, continueMs, totalMs: performance.now() - t0 };
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = {};
for (const ranks of [2, 8]) {
  const plains = [];
  const debugs = [];
  for (let i = 0; i < RUNS; i++) {
    plains.push(await plain(ranks));
    debugs.push(await debugged(ranks));
  }
  const plainMs = median(plains);
  const stoppedMs = median(debugs.map(d => d.stoppedMs));
  out[`local${ranks}`] = {
    plainRunMs: Math.round(plainMs), allStoppedMs: Math.round(stoppedMs), debugRunMs: Math.round(median(debugs.map(d => d.totalMs))),
    stoppedVsPlainRun: +(stoppedMs / plainMs).toFixed(2), continueAllMs: +median(debugs.map(d => d.continueMs)).toFixed(1),
  };
  process.stderr.write(`${ranks} ranks: ${JSON.stringify(out[`local${ranks}`])}\n`);
}
const clusterUp = spawnSync('ip', ['netns', 'pids', 'dt-node1']).status === 0;
out.cluster = clusterUp ? 'up, but not measured by this benchmark (see test/integration/cluster.test.ts debug tests)' : 'not measured: the test cluster is not up';
process.stdout.write(`${JSON.stringify({ debug: out })}\n`);
process.exit(0);
