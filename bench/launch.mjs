// Launch benchmark: one 4-rank pytest-mpi test through runTests on a local, a hosts (mpirun over ssh to
// the test cluster's nodes) and a Slurm allocation (srun into a salloc job), each against the bare
// launcher command in a shell (same launcher, same pytest, no distest agent), interleaved in one run.
// Brings the test cluster up (test/cluster/up.sh) and down again unless it was already up.
// distest's time is until its result (runTests returns); the end-of-run sweep that follows is printed beside it.
// Last stdout line: {"launchOverhead": {"local", "hosts", "slurm"}} with overhead = distestMs / bareMs - 1.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterClientEnv, clusterScript } from '../test/e2e/cluster.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const entryJs = path.join(root, '.bench/launch-entry.js');
const project = path.join(root, 'test/fixtures/mpi-project');
const PYTHON = '/usr/bin/python3';
const RUNS = 5;
/** How long each run's end-of-run sweep went on after its result (per allocation kind). */
let sweepMs = [];
const TEST = 'tests/test_mpi_marks.py::test_gather';

await esbuild.build({
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  entryPoints: [path.join(root, 'bench/launch-entry.ts')], outfile: entryJs,
});
if (!fs.existsSync(path.join(root, 'dist/agent/distest_pytest.py'))) throw new Error('dist/agent missing: run node scripts/build.mjs first');
const { localAllocation, detectMpi, planRun, runTests, Slurm, LocalHost, shellQuote, DEFAULT_SETTINGS } = createRequire(import.meta.url)(entryJs);
// What a session hands runTests from the settings, at their defaults.
const settingDefaults = { defaultRanks: DEFAULT_SETTINGS.mpiDefaultRanks, cores: DEFAULT_SETTINGS.cores };

const wasUp = spawnSync('ip', ['netns', 'pids', 'dt-node1']).status === 0;
clusterScript('up.sh');
Object.assign(process.env, clusterClientEnv());

const host = new LocalHost('login');
const slurm = new Slurm(host);
const spec = { id: TEST, label: 'test_gather', file: TEST.split('::')[0], range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework: 'pytest-mpi', ranks: 2 };
const slurmAlloc = await slurm.allocate({ nodes: 2, tasks: 4, minutes: 15, python: PYTHON });
try {
  const allocs = {
    local: await localAllocation(host, { python: PYTHON }),
    hosts: { kind: 'hosts', host, hosts: [{ name: 'dt-node1', slots: 2 }, { name: 'dt-node2', slots: 2 }], python: PYTHON, mpi: await detectMpi(host) },
    slurm: slurmAlloc,
  };
  const overhead = {};
  for (const [kind, alloc] of Object.entries(allocs)) {
    sweepMs = [];
    const distest = [];
    const bare = [];
    const bareCommand = bareShellCommand(alloc);
    for (let i = 0; i < RUNS; i++) {
      distest.push(await timeDistest(alloc));
      bare.push(timeBare(bareCommand));
    }
    const d = median(distest);
    const b = median(bare);
    overhead[kind] = Number((d / b - 1).toFixed(3));
    console.log(`${kind.padEnd(6)} distest ${d.toFixed(0)} ms, bare ${b.toFixed(0)} ms (medians of ${RUNS}), ratio ${(d / b).toFixed(2)}; sweep after the result ${median(sweepMs).toFixed(0)} ms`);
    console.log(`       bare: ${bareCommand}`);
  }
  console.log(JSON.stringify({ launchOverhead: overhead }));
} finally {
  await slurm.cancel(slurmAlloc);
  if (!wasUp) clusterScript('down.sh');
}

/** Until the result is in; the end-of-run sweep runs after it (off the clock) and is awaited before the next launch. */
async function timeDistest(alloc) {
  const started = performance.now();
  let sweep = Promise.resolve();
  const [result] = await runTests([spec], { ...settingDefaults, root: project, alloc, ranksOverride: 4, timeoutMs: 120_000, sweepStarted: s => (sweep = s) });
  const ms = performance.now() - started;
  await sweep;
  sweepMs.push(performance.now() - started - ms);
  if (result.state !== 'passed') throw new Error(`${alloc.kind}: ${TEST} ${result.state}: ${JSON.stringify(result.messages).slice(0, 500)}`);
  return ms;
}

/** distest's own launch for this allocation, minus the agent: the command a user would type. */
function bareShellCommand(alloc) {
  const [step] = planRun([spec], alloc, { ...settingDefaults, root: project, assetDir: path.join(root, 'dist'), token: '0'.repeat(32), runId: '1'.repeat(32), ranksOverride: 4 }).steps;
  const agentOnly = (a, i, all) => (a === '-p' && all[i + 1] === 'distest_pytest') || a === 'distest_pytest';
  const forwardOnly = (a, i, all) => a === '-x' || all[i - 1] === '-x';
  const argv = step.argv.filter((a, i, all) => !agentOnly(a, i, all) && !forwardOnly(a, i, all));
  const env = Object.entries(step.env).filter(([name]) => name.startsWith('OMPI_')).map(([name, value]) => `${name}=${shellQuote([value])}`);
  return `cd ${shellQuote([project])} && ${env.length ? `env ${env.join(' ')} ` : ''}${shellQuote(argv)}`;
}

function timeBare(command) {
  const started = performance.now();
  const res = spawnSync('bash', ['-c', command], { encoding: 'utf8', timeout: 120_000 });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`bare launch failed (${res.status}): ${command}\n${res.stdout.slice(-500)}${res.stderr.slice(-500)}`);
  return ms;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
