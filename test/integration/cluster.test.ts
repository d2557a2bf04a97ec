// Remote allocations on the real test cluster (test/cluster/up.sh): network-namespace nodes with sshd
// and slurmd, this machine as the login node. mpirun reaches the nodes over ssh, srun through Slurm.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { HostsAllocation, SlurmAllocation } from '../../src/core/launch/allocation';
import { detectMpi } from '../../src/core/launch/mpi';
import { runTests, type RunListener } from '../../src/core/run/run';
import { Slurm, type SallocEvent } from '../../src/core/schedulers/slurm';
import { LocalHost } from '../../src/core/transport/local';
import type { TestResult, TestSpec } from '../../src/core/types';

const REPO = path.resolve(__dirname, '../../..');
const CLUSTER = path.join(REPO, 'test/cluster');
const ENV_SH = path.join(REPO, '.cache/cluster/env.sh');
const PROJECT = path.join(REPO, 'test/fixtures/mpi-project');
// Debian's python on the nodes: it has mpi4py and pytest-mpi (pyenv's python3 on PATH does not).
const PYTHON = '/usr/bin/python3';
const NODES = ['dt-node1', 'dt-node2'];
const RUN_TIMEOUT_MS = 90_000;

const login = new LocalHost('login');
const slurm = new Slurm(login);
let createdBySuite: SlurmAllocation | undefined;

/** Runs a cluster script; its output is shown in the failure so a broken cluster explains itself. */
function clusterScript(name: string, timeoutMs: number): void {
  const res = spawnSync('bash', [path.join(CLUSTER, name)], { encoding: 'utf8', timeout: timeoutMs });
  if (res.status !== 0) {
    const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `test/cluster/${name} failed (${res.error?.message ?? `exit ${res.status}`}): the cluster suite needs root, ` +
        `network namespaces and the Debian packages in TEST_APT_PACKAGES.\n${tail}`,
    );
  }
}

before(() => {
  clusterScript('up.sh', 240_000);
  // The login node's client environment (SLURM_CONF, OpenMPI's ssh agent and interfaces).
  const env = execFileSync('bash', ['-c', 'source "$1" && env -0', 'env', ENV_SH], { encoding: 'utf8' });
  for (const entry of env.split('\0')) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    if (/^(SLURM_CONF|OMPI_|CLUSTER_)/.test(name)) process.env[name] = entry.slice(eq + 1);
  }
});

after(async () => {
  if (createdBySuite) await slurm.cancel(createdBySuite).catch(() => undefined);
  clusterScript('down.sh', 120_000);
});

function spec(id: string): TestSpec {
  return { id, label: id, file: id.split('::')[0], range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework: 'pytest-mpi', ranks: 2 };
}

const GATHER = spec('tests/test_mpi_marks.py::test_gather');

/** Runs one test at 4 ranks and returns its result and the host each rank reported in its hello. */
async function run4(alloc: HostsAllocation | SlurmAllocation, extra: Partial<Parameters<typeof runTests>[1]> = {}) {
  const rankHosts = new Map<number, string>();
  const output: string[] = [];
  const listener: RunListener = {
    record: r => void (r.kind === 'hello' && rankHosts.set(r.rank, r.host)),
    output: l => void output.push(`${l.rank ?? '-'}: ${l.text}`),
    ...extra.listener,
  };
  const [result] = await runTests([GATHER], { root: PROJECT, alloc, ranksOverride: 4, timeoutMs: RUN_TIMEOUT_MS, ...extra, listener });
  return { result, rankHosts, output };
}

function assertPassedOnBothNodes(got: { result: TestResult; rankHosts: Map<number, string>; output: string[] }): void {
  assert.equal(got.result.state, 'passed', `${JSON.stringify(got.result.messages)}\n${got.output.join('\n')}`);
  assert.equal(got.result.ranks, 4);
  assert.deepEqual([...got.rankHosts.keys()].sort(), [0, 1, 2, 3]);
  assert.deepEqual([...new Set(got.rankHosts.values())].sort(), NODES);
}

/** Processes on the nodes besides the node's init, sshd's listener and slurmd (the recipe's strays()). */
function strays(): string[] {
  const left: string[] = [];
  for (const node of NODES) {
    for (const pid of execFileSync('ip', ['netns', 'pids', node], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      let cmd: string;
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        continue;
      }
      if (/node-init\.sh|^sleep 3600 |\[listener\]|^\/usr\/sbin\/slurmd -f |^unshare |^$/.test(cmd)) continue;
      left.push(`${node} ${pid} ${cmd}`);
    }
  }
  return left;
}

async function waitForNoStrays(timeoutMs: number): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  let left = strays();
  while (left.length && Date.now() < end) {
    await new Promise(r => setTimeout(r, 250));
    left = strays();
  }
  return left;
}

test('hosts allocation: mpirun over ssh runs 4 ranks across both nodes', async () => {
  const alloc: HostsAllocation = {
    kind: 'hosts', host: login, hosts: NODES.map(name => ({ name, slots: 2 })), python: PYTHON, mpi: await detectMpi(login),
  };
  assertPassedOnBothNodes(await run4(alloc));
  assert.deepEqual(await waitForNoStrays(10_000), []);
});

test('slurm allocation created by distest (salloc --no-shell): 4 ranks through srun, progress reported', async () => {
  const events: SallocEvent[] = [];
  createdBySuite = await slurm.allocate({ nodes: 2, tasks: 4, minutes: 10, python: PYTHON }, { onProgress: e => events.push(e) });
  assert.equal(createdBySuite.created, true);
  assert.deepEqual(events.at(-1), { kind: 'granted', jobId: createdBySuite.jobId });
  const job = (await slurm.listJobs()).find(j => j.jobId === createdBySuite?.jobId);
  assert.match(job?.name ?? '', /^distest-/);
  assert.match((await slurm.timeLeft(createdBySuite.jobId)) ?? '', /^\d+:\d\d$/);
  assertPassedOnBothNodes(await run4(createdBySuite));
});

test('cancel mid-run inside the slurm allocation leaves nothing on any node', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  const controller = new AbortController();
  process.env.DISTEST_FIXTURE_SLOW = '1'; // srun --export=ALL carries it to the ranks
  try {
    const slow = spec('tests/test_slow.py::test_sleeps_a_minute');
    const started = Date.now();
    const [result] = await runTests([slow], {
      root: PROJECT, alloc: createdBySuite, ranksOverride: 4, timeoutMs: RUN_TIMEOUT_MS, signal: controller.signal,
      listener: { started: () => setTimeout(() => controller.abort(), 500) },
    });
    assert.equal(result.state, 'errored');
    assert.ok(Date.now() - started < 45_000, 'the cancel ended the run, not the test');
  } finally {
    delete process.env.DISTEST_FIXTURE_SLOW;
  }
  assert.deepEqual(await waitForNoStrays(15_000), []);
  // The allocation itself survives a cancelled run: the next run can use it.
  assert.equal((await slurm.listJobs()).find(j => j.jobId === createdBySuite?.jobId)?.state, 'RUNNING');
});

test('slurm allocation created outside distest: used, never cancelled by it', async () => {
  // --immediate: fail rather than queue if the cluster is full (it fits both allocations, see up.sh).
  execFileSync('salloc', ['--no-shell', '--immediate=30', '-N2', '-n4', '-t', '10', '-J', 'outside-distest'], { stdio: 'ignore', timeout: 60_000 });
  const outsideId = (await slurm.listJobs()).find(j => j.name === 'outside-distest')?.jobId;
  assert.ok(outsideId, 'salloc created the outside job');
  try {
    const alloc = await slurm.useJob(outsideId, PYTHON);
    assert.deepEqual([alloc.created, alloc.nodes, alloc.tasks], [false, 2, 4]);
    assertPassedOnBothNodes(await run4(alloc));
    await assert.rejects(slurm.cancel(alloc), /refused: distest did not create this job/);
    // Both allocations fill the cluster: a third one queues, and giving up on it leaves no job behind.
    const giveUp = new AbortController();
    const events: SallocEvent[] = [];
    const queued = slurm.allocate({ nodes: 2, tasks: 4, minutes: 5, python: PYTHON }, {
      signal: giveUp.signal,
      onProgress: e => void (events.push(e), e.kind === 'pending' && giveUp.abort()),
    });
    await assert.rejects(queued, /cancelled while waiting in the queue/);
    const pendingId = events.find(e => e.kind === 'pending');
    assert.ok(pendingId && pendingId.kind === 'pending');
    assert.equal((await slurm.listJobs()).find(j => j.jobId === pendingId.jobId), undefined);
    // distest cancels its own allocation; the outside one is untouched.
    assert.ok(createdBySuite);
    await slurm.cancel(createdBySuite);
    const active = await slurm.listJobs();
    assert.equal(active.find(j => j.jobId === outsideId)?.state, 'RUNNING');
    assert.notEqual(active.find(j => j.jobId === createdBySuite?.jobId)?.state, 'RUNNING');
    createdBySuite = undefined;
  } finally {
    execFileSync('scancel', [outsideId]);
  }
  assert.deepEqual(await waitForNoStrays(15_000), []);
});
