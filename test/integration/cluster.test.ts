// Remote allocations on the real test cluster (test/cluster/up.sh): network-namespace nodes with sshd
// and slurmd, this machine as the login node. mpirun reaches the nodes over ssh, srun through Slurm.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { HostsAllocation, SlurmAllocation } from '../../src/core/allocation/allocation';
import { detectMpi } from '../../src/core/allocation/mpi';
import { discoverFolder } from '../../src/core/discovery/folder';
import { runTests, type RunListener } from '../../src/core/run/run';
import { Slurm, type SallocEvent } from '../../src/core/allocation/slurm';
import { LocalHost } from '../../src/core/transport/local';
import { SshHost } from '../../src/core/transport/ssh/sshHost';
import type { SweepResult } from '../../src/core/faults/sweep';
import type { TestResult, TestSpec } from '../../src/core/types';
import type { DebugEndpoint } from '../../src/core/debug/request';
import type { RepeatStudy, ScaleStudy } from '../../src/core/study/study';
import { DapClient } from './dapClient';
import { holdingProject, killCliMidRun } from './killedCli';
import { processesWithEnv, waitUntilGone } from './procs';
import { pythonOnPath } from './pythonOnPath';
import { SETTING_DEFAULTS } from './runDefaults';
import { packProject } from './packProject';

const REPO = path.resolve(__dirname, '../../..');
const CLUSTER = path.join(REPO, 'test/cluster');
const ENV_SH = path.join(REPO, '.cache/cluster/env.sh');
const PROJECT = path.join(REPO, 'test/fixtures/mpi-project');
const FAULTS = path.join(REPO, 'test/fixtures/faults-project');
const FAULTS_FILE = 'tests/test_faults.py';
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
  const [result] = await runTests([GATHER], { ...SETTING_DEFAULTS, root: PROJECT, alloc, ranksOverride: 4, timeoutMs: RUN_TIMEOUT_MS, ...extra, listener });
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

/** Runs `script` with the cluster scripts' helpers (node_exec, node_pidfile_kill, $ST) loaded. */
function clusterShell(script: string): void {
  execFileSync('bash', ['-c', `source "$1" && ${script}`, 'bash', path.join(CLUSTER, 'lib.sh')], { stdio: 'ignore', timeout: 30_000 });
}

/** Stops or restarts a node's sshd listener; sessions already open (mpirun's) live on. */
function nodeSshd(node: string, action: 'stop' | 'start'): void {
  clusterShell(action === 'stop'
    ? `node_pidfile_kill ${node} TERM "$ST/run/sshd-${node}.pid"; while node_pidfile_alive ${node} "$ST/run/sshd-${node}.pid"; do sleep 0.1; done`
    : `node_exec ${node} /usr/sbin/sshd -f "$ST/ssh/sshd_config.${node}" -E "$ST/log/sshd-${node}.log"`);
}

interface FaultRun {
  result: TestResult; rankHosts: Map<number, string>; cleanup: SweepResult[]; notes: string[]; output: string[];
  /** From the test's start on the first rank to its result. */
  ms: number;
}

/** Runs one faults-project test and proves afterwards that no process of the run is left anywhere. */
async function runFault(alloc: HostsAllocation | SlurmAllocation, name: string, ranks: number, onStarted?: () => void): Promise<FaultRun> {
  const token = `cluster${Date.now().toString(16)}`;
  const got: FaultRun = { result: undefined as unknown as TestResult, rankHosts: new Map(), cleanup: [], notes: [], output: [], ms: 0 };
  const id = `${FAULTS_FILE}::${name}`;
  // The fixture's @pytest.mark.timeout(3), as discovery would read it.
  const timeoutSeconds = name === 'test_deadlock_both_recv' ? 3 : undefined;
  let startedAt = 0;
  [got.result] = await runTests([{ ...spec(id), ...(timeoutSeconds ? { timeoutSeconds } : {}) }], { ...SETTING_DEFAULTS,
    root: FAULTS, alloc, runId: token, ranksOverride: ranks, timeoutMs: RUN_TIMEOUT_MS, nativeStacks: true,
    listener: {
      started: () => void ((startedAt = Date.now()), onStarted?.()),
      result: () => void (got.ms = Date.now() - startedAt),
      record: r => void (r.kind === 'hello' && got.rankHosts.set(r.rank, r.host)),
      output: l => void got.output.push(`${l.rank ?? '-'}: ${l.text}`),
      cleanup: r => void got.cleanup.push(r),
      note: t => void got.notes.push(t),
    },
  });
  if (timeoutSeconds) process.stdout.write(`# ${alloc.kind} ${name}: diagnostics ${(got.ms / 1000 - timeoutSeconds).toFixed(2)} s after the timeout\n`);
  // The login node sees every node's processes (their pid namespaces are children of its own).
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token), 15_000), [], 'no process of the run is left');
  assert.deepEqual(await waitForNoStrays(15_000), []);
  return got;
}

function describe(got: FaultRun): string {
  return `${JSON.stringify(got.result.messages, null, 1)}\nnotes: ${got.notes.join('\n')}\n${got.output.slice(-40).join('\n')}`;
}

/** A 4-rank deadlock over two nodes: one group, every rank's Python stack, gdb's from the right node. */
function assertDeadlockCaptured(got: FaultRun): void {
  assert.equal(got.result.state, 'errored', describe(got));
  // Block placement: rank 0 on the first node, rank 3 on the second (Slurm may put a third rank on either).
  assert.deepEqual([got.rankHosts.get(0), got.rankHosts.get(3), got.rankHosts.size], [NODES[0], NODES[1], 4]);
  const group = got.result.messages.find(m => m.file === FAULTS_FILE && m.line === 19);
  assert.ok(group, describe(got));
  assert.match(group.text, /^ranks 0, 1, 2, 3 \(dt-node1, dt-node2\) wait in test_deadlock_both_recv\(\) at tests\/test_faults\.py:19: comm\.recv\(source=other\)/);
  // gdb attached to rank 0's pid on dt-node1: the login node has no such process (or another one).
  assert.match(group.text, /\nnative stack of rank 0 \(gdb, main thread\):\n#0 /, describe(got));
  const texts = got.result.messages.map(m => m.text).join('\n');
  assert.match(texts, /Python stacks of ranks 0, 1, 2, 3 from faulthandler \(SIGUSR1\)/);
  assert.doesNotMatch(texts, /unavailable|no stack for/);
  assert.deepEqual(got.result.faults?.map(f => [f.kind, f.rank, f.host, f.line]), [0, 1, 2, 3].map(rank => ['hang', rank, got.rankHosts.get(rank), 19]));
}

/** Each node's sweep killed the detached sleeper each of its ranks left, and said so for that node. */
function assertSweptEveryNode(got: FaultRun): void {
  assert.equal(got.result.state, 'passed', describe(got));
  for (const node of NODES) {
    const ranks = [...got.rankHosts.values()].filter(host => host === node).length;
    assert.ok(ranks > 0, `a rank ran on ${node}`);
    assert.equal(got.cleanup.find(c => c.host === node)?.killed.length, ranks, `${node}: ${JSON.stringify(got.cleanup)}`);
    assert.ok(got.notes.some(n => n.startsWith(`killed ${ranks} stray process${ranks === 1 ? '' : 'es'} on ${node}: `)), got.notes.join('\n'));
  }
}

function removeCores(): void {
  for (const name of fs.readdirSync(FAULTS)) if (/^core(\.\d+)?$/.test(name)) fs.rmSync(path.join(FAULTS, name), { force: true });
  fs.rmSync(path.join(FAULTS, '.distest'), { recursive: true, force: true });
}

test('hosts allocation: mpirun over ssh runs 4 ranks across both nodes', async () => {
  const alloc: HostsAllocation = {
    kind: 'hosts', host: login, hosts: NODES.map(name => ({ name, slots: 2 })), python: PYTHON, mpi: await detectMpi(login),
  };
  assertPassedOnBothNodes(await run4(alloc));
  assert.deepEqual(await waitForNoStrays(10_000), []);
});

const hostsAllocation = async (slots: number): Promise<HostsAllocation> => ({
  kind: 'hosts', host: login, hosts: NODES.map(name => ({ name, slots })), python: PYTHON, mpi: await detectMpi(login),
});

test('hosts allocation: a deadlock over two nodes is captured on each rank\'s own node', async () => {
  assertDeadlockCaptured(await runFault(await hostsAllocation(2), 'test_deadlock_both_recv', 4));
});

test('hosts allocation: a node ssh cannot reach is named per rank, nothing is signalled in its place', async () => {
  let stopped = false;
  let got: FaultRun;
  try {
    got = await runFault(await hostsAllocation(2), 'test_deadlock_both_recv', 4, () => {
      nodeSshd(NODES[1], 'stop');
      stopped = true;
    });
  } finally {
    if (stopped) nodeSshd(NODES[1], 'start');
  }
  assert.ok(stopped);
  assert.equal(got.result.state, 'errored');
  const texts = got.result.messages.map(m => m.text);
  assert.ok(texts.some(t => /^stacks unavailable for ranks 2, 3 on dt-node2: ssh: connect to host dt-node2 port 22: Connection refused/.test(t)), describe(got));
  assert.match(got.result.messages.find(m => m.line === 19)?.text ?? '', /^ranks 0, 1 \(dt-node1\) wait in test_deadlock_both_recv\(\)/);
  assert.match(got.notes.join('\n'), /the cleanup sweep on dt-node2 failed: ssh: connect to host dt-node2/);
});

test('hosts allocation: a segfault on the second node names that node', async () => {
  const got = await runFault(await hostsAllocation(1), 'test_rank_1_segfaults', 2);
  assert.equal(got.result.state, 'errored', describe(got));
  assert.equal(got.rankHosts.get(1), NODES[1]);
  const signal = got.result.faults?.find(f => f.kind === 'signal');
  assert.deepEqual([signal?.rank, signal?.host, signal?.signal, signal?.line], [1, NODES[1], 'SIGSEGV', 34]);
  assert.match(got.result.messages.find(m => m.line === 34)?.text ?? '', /^SIGSEGV on rank 1 \(dt-node2\) \(Fatal Python error: Segmentation fault\) in test_rank_1_segfaults\(\)/);
  // The core search ran on dt-node2: a core there, or (ranks under mpirun's ssh keep the node's core
  // limit, usually 0) a note that dt-node2 has none.
  const core = got.result.faults?.find(f => f.kind === 'core');
  removeCores();
  assert.ok(core ? core.host === NODES[1] : got.result.messages.some(m => /^no core file from rank 1 \(pid \d+\) in \S+ on dt-node2 /.test(m.text)), describe(got));
});

test('hosts allocation: the sweep reaches every node', async () => {
  assertSweptEveryNode(await runFault(await hostsAllocation(2), 'test_leaves_a_daemon', 4));
});

test('slurm allocation created by distest (salloc holding it): 4 ranks through srun, progress reported', async () => {
  const events: SallocEvent[] = [];
  createdBySuite = await slurm.allocate({ nodes: 2, tasks: 4, minutes: 10, python: PYTHON }, { onProgress: e => events.push(e) });
  assert.equal(createdBySuite.created, true);
  assert.deepEqual(events.at(-1), { kind: 'granted', jobId: createdBySuite.jobId });
  const job = (await slurm.listJobs()).find(j => j.jobId === createdBySuite?.jobId);
  assert.match(job?.name ?? '', /^distest-/);
  assert.match((await slurm.timeLeft(createdBySuite.jobId)) ?? '', /^\d+:\d\d$/);
  assertPassedOnBothNodes(await run4(createdBySuite));
});

test('slurm allocation: a deadlock over two nodes is captured through srun on each node', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  assertDeadlockCaptured(await runFault(createdBySuite, 'test_deadlock_both_recv', 4));
});

test('slurm allocation: a segfault on the second node, its core found and read there', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  removeCores();
  try {
    // srun hands the raised core limit on to the ranks (PropagateResourceLimits), so the core exists.
    const got = await runFault(createdBySuite, 'test_rank_1_segfaults', 2);
    assert.equal(got.result.state, 'errored', describe(got));
    assert.equal(got.rankHosts.get(1), NODES[1]);
    // srun's --kill-on-bad-exit takes rank 0 down too (SIGKILL): rank 1's fault is the segfault.
    const signal = got.result.faults?.find(f => f.kind === 'signal' && f.rank === 1);
    assert.deepEqual([signal?.host, signal?.signal], [NODES[1], 'SIGSEGV']);
    const core = got.result.faults?.find(f => f.kind === 'core');
    assert.ok(core?.core && fs.existsSync(core.core), describe(got));
    assert.deepEqual([core.rank, core.host, core.line], [1, NODES[1], 34]);
    assert.ok(core.core.startsWith(`${FAULTS}/.distest/cores/`), `kept in the run's folder: ${core.core}`);
    assert.match(core.core, /\/\d{8}T\d{6}-[\w-]+\/core\.rank1\.pid\d+$/);
    assert.ok(got.result.messages.some(m => m.text.startsWith(`SIGSEGV on rank 1 (dt-node2), core ${core.core}: in test_rank_1_segfaults()`)), describe(got));
  } finally {
    removeCores();
  }
});

test('slurm allocation: a 2-rank and a 1-rank launch run side by side as job steps; results stay per test', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  fs.mkdirSync(path.join(REPO, '.cache'), { recursive: true });
  const root = packProject(path.join(REPO, '.cache'), {});
  try {
    const specs = (await discoverFolder(root, { launchers: [], mpiDefaultRanks: 2 })).flatMap(f => f.tests)
      .filter(t => /test_(two|one)_(meets_(one|two)|after)$/.test(t.id));
    assert.equal(specs.length, 4);
    const runId = `pack${Date.now().toString(16)}`;
    const notes: string[] = [];
    const results = await runTests(specs, {
      ...SETTING_DEFAULTS, root, alloc: createdBySuite, runId, timeoutMs: RUN_TIMEOUT_MS, parallelLaunches: 'auto', listener: { note: n => notes.push(n) },
    });
    // The meeting tests pass only if each launch saw the other's mark: the two steps ran at once.
    assert.deepEqual(Object.fromEntries(results.map(r => [r.id.replace('tests/test_pack.py::', ''), r.state])),
      { test_two_meets_one: 'passed', test_two_after: 'passed', test_one_meets_two: 'passed', test_one_after: 'passed' }, JSON.stringify(results.map(r => r.messages)));
    assert.ok(notes.some(n => /^launch 2 \(\d ranks?: test_\w+.*\) runs beside launch 1 \(/.test(n)), notes.join('\n'));
    assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId), 15_000), []);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  assert.deepEqual(await waitForNoStrays(15_000), []);
});

test('slurm allocation: the sweep reaches every node of the job', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  assertSweptEveryNode(await runFault(createdBySuite, 'test_leaves_a_daemon', 4));
});

test('cancel mid-run inside the slurm allocation leaves nothing on any node', async () => {
  assert.ok(createdBySuite, 'needs the allocation of the previous test');
  const controller = new AbortController();
  process.env.DISTEST_FIXTURE_SLOW = '1'; // srun --export=ALL carries it to the ranks
  try {
    const slow = spec('tests/test_slow.py::test_sleeps_a_minute');
    const started = Date.now();
    const [result] = await runTests([slow], { ...SETTING_DEFAULTS,
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

/** A project in this machine's /tmp, which the nodes do not share: its files are not there for the ranks. */
function invisibleProject(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-invisible-'));
  fs.mkdirSync(path.join(root, 'tests'));
  fs.writeFileSync(path.join(root, 'tests/test_here_only.py'), 'import pytest\n\n\n@pytest.mark.mpi(min_size=2)\ndef test_here_only():\n    pass\n');
  return root;
}

test('a project folder the nodes cannot see: the test errors naming the node, the folder and the fixes', async () => {
  assert.ok(createdBySuite, 'needs the allocation of an earlier test');
  const hosts: HostsAllocation = { kind: 'hosts', host: login, hosts: NODES.map(name => ({ name, slots: 2 })), python: PYTHON, mpi: await detectMpi(login) };
  for (const alloc of [hosts, createdBySuite]) {
    const root = invisibleProject();
    try {
      const runId = `invisible${Date.now().toString(16)}`;
      const [result] = await runTests([{ ...spec('tests/test_here_only.py::test_here_only'), ranks: 2 }], { ...SETTING_DEFAULTS, root, alloc, runId, timeoutMs: RUN_TIMEOUT_MS });
      assert.equal(result.state, 'errored', alloc.kind);
      const text = result.messages.map(m => m.text).join('\n');
      assert.match(text, new RegExp(`pytest found no tests/test_here_only.py in ${root} on dt-node\\d: the project folder is not visible there`), `${alloc.kind}: ${text}`);
      assert.match(text, /distest\.remoteRoots/, `${alloc.kind}: ${text}`);
      assert.match(text, /distest\.syncBeforeRun/, `${alloc.kind}: ${text}`);
      assert.doesNotMatch(text, /the launcher ended the job/, `${alloc.kind}: ${text}`);
      assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId), 15_000), []);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  assert.deepEqual(await waitForNoStrays(15_000), []);
});

test('slurm allocation created outside distest: used, never cancelled by it', async () => {
  // --immediate: fail rather than queue if the cluster is full (it fits both allocations, see up.sh).
  execFileSync('salloc', ['--no-shell', '--immediate=30', '-N2', '-n4', '-t', '10', '-J', 'outside-distest'], { stdio: 'ignore', timeout: 60_000 });
  const outsideId = (await slurm.listJobs()).find(j => j.name === 'outside-distest')?.jobId;
  assert.ok(outsideId, 'salloc created the outside job');
  try {
    const alloc = await slurm.useJob(outsideId, PYTHON);
    assert.deepEqual([alloc.created, alloc.nodes, alloc.tasks], [false, 2, 4]);
    // A job id Slurm does not know (squeue -j exits 1 on it) is said as such.
    await assert.rejects(slurm.useJob('999999', PYTHON), /job 999999 is not one of your active jobs/);
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

/** The distest CLI (dist/cli.js) with the cluster's client environment (SLURM_CONF, OpenMPI's ssh). */
function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [path.join(REPO, 'dist/cli.js'), ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('CLI: allocations lists a job made outside with its time left; run --allocation slurm:new creates one, runs there, cancels it', async () => {
  execFileSync('salloc', ['--no-shell', '--immediate=30', '-N1', '-n1', '-t', '10', '-J', 'cli-outside'], { stdio: 'ignore', timeout: 60_000 });
  const outsideId = (await slurm.listJobs()).find(j => j.name === 'cli-outside')?.jobId;
  assert.ok(outsideId, 'salloc created the outside job');
  try {
    const listed = cli(['allocations', PROJECT, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const choices = JSON.parse(listed.stdout) as { spec?: string; kind: string; state?: string; timeLeft?: string; creates?: boolean }[];
    const outside = choices.find(c => c.spec === `slurm:${outsideId}`);
    assert.equal(outside?.state, 'RUNNING', listed.stdout);
    assert.match(outside?.timeLeft ?? '', /^\d+:\d\d$/);
    assert.ok(choices.some(c => c.spec === 'slurm:new' && c.creates), listed.stdout);

    const run = cli(['run', PROJECT, GATHER.id, '--json', '--python', PYTHON, '--ranks', '4', '--allocation', 'slurm:new', '--nodes', '2', '--tasks', '4', '--time', '5']);
    assert.equal(run.code, 0, run.stderr);
    const [result] = (JSON.parse(run.stdout) as { tests: { state: string; ranks: number }[] }).tests;
    assert.deepEqual([result.state, result.ranks], ['passed', 4]);
    const created = /Slurm job (\d+) granted/.exec(run.stderr)?.[1];
    assert.ok(created, run.stderr);
    assert.match(run.stderr, /running on slurm:\d+ \(created for this run; cancelled when it ends\)/);
    assert.notEqual((await slurm.listJobs()).find(j => j.jobId === created)?.state, 'RUNNING', 'the CLI cancelled the job it created');
    assert.equal((await slurm.listJobs()).find(j => j.jobId === outsideId)?.state, 'RUNNING', 'the outside job is untouched');
  } finally {
    execFileSync('scancel', [outsideId]);
  }
});

test('a python given by name is the one the launching host resolves: every rank on both nodes runs it, through mpirun over ssh and through srun', async () => {
  // On the shared file system (the nodes have their own /tmp), first on the CLI's PATH only.
  const dir = fs.mkdtempSync('/var/tmp/distest-python-');
  try {
    const wrapped = pythonOnPath(dir);
    for (const allocation of [['--allocation', `hosts:${NODES.map(n => `${n}:2`).join(',')}`], ['--allocation', 'slurm:new', '--nodes', '2', '--tasks', '4', '--time', '5']]) {
      const res = spawnSync(process.execPath, [path.join(REPO, 'dist/cli.js'), 'run', wrapped.project, '--json', '--python', 'python3', '--ranks', '4', ...allocation], {
        encoding: 'utf8', timeout: 180_000, env: { ...process.env, PATH: wrapped.path },
      });
      const tests = (JSON.parse(res.stdout || '{"tests":[]}') as { tests: { state: string; ranks: number; messages: { text: string }[] }[] }).tests;
      const why = `${tests.flatMap(t => t.messages.map(m => m.text.split('\n')[0])).join('\n')}\n${res.stderr.slice(-2000)}`;
      assert.deepEqual(tests.map(t => [t.ranks, t.state]), [[4, 'passed'], [1, 'passed']], `${allocation[1]}: ${why}`);
      const ranOn = new Set([...res.stderr.matchAll(/^\[rank \d\] python3 on (\S+): (\S+)$/gm)].filter(m => m[2] === wrapped.python).map(m => m[1]));
      assert.deepEqual([...ranOn].sort(), NODES, `${allocation[1]}: ${res.stderr.slice(-2000)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(await waitForNoStrays(15_000), []);
});

test('the ssh connection to the launching host drops mid-run: the test ends errored, nothing is left on any node', async () => {
  const node1 = new SshHost(NODES[0]);
  try {
    const alloc: HostsAllocation = { kind: 'hosts', host: node1, hosts: NODES.map(name => ({ name, slots: 2 })), python: PYTHON, mpi: await detectMpi(node1) };
    const token = `drop${Date.now().toString(16)}`;
    let hellos = 0;
    const started = Date.now();
    const [result] = await runTests([spec(`${FAULTS_FILE}::test_sleeps`)], { ...SETTING_DEFAULTS,
      root: FAULTS, alloc, runId: token, ranksOverride: 4, timeoutMs: RUN_TIMEOUT_MS,
      listener: {
        // Once every rank runs, kill the sshd processes serving this connection on dt-node1.
        record: r => void (r.kind === 'hello' && ++hellos === 4 && clusterShell(`for p in $(ip netns pids ${NODES[0]}); do
          case "$(tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null)" in "sshd: "*"[listener]"*) ;; "sshd: "*) kill -9 $p ;; esac; done`)),
      },
    });
    assert.equal(hellos, 4, `every rank started before the drop; the run ended: ${JSON.stringify(result)}`);
    assert.equal(result.state, 'errored', JSON.stringify(result.messages));
    assert.ok(result.messages.some(m => /ssh connection to .* was lost/.test(m.text)), JSON.stringify(result.messages));
    assert.ok(Date.now() - started < RUN_TIMEOUT_MS / 2, 'the drop ended the run, not the timeout');
    assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token), 20_000), [], 'no process of the run is left');
  } finally {
    node1.dispose();
  }
  // After the dispose: the sweep's reconnected session is distest's own, closed with the host.
  assert.deepEqual(await waitForNoStrays(15_000), []);
});

test('hosts allocation without MPI: MPI tests error with the reason; a serial test is started on the first host by distest_spawn', async () => {
  const alloc: HostsAllocation = { kind: 'hosts', host: login, hosts: NODES.map(name => ({ name, slots: 2 })), python: PYTHON, mpi: null, mpiProblem: 'left out on purpose' };
  const token = `spawn${Date.now().toString(16)}`;
  const rankHosts = new Map<number, string>();
  const mpi = ['test_each_rank_knows_its_place', 'test_rank_2_fails'].map(name => ({ ...spec(`tests/test_spawned.py::${name}`), framework: 'pytest_parallel' as const, ranks: 4 }));
  const serial = { ...spec('tests/test_spawned.py::test_each_rank_knows_its_place'), framework: 'pytest' as const, ranks: 1 };
  const needMpi = await runTests(mpi, { ...SETTING_DEFAULTS, root: path.join(REPO, 'test/fixtures/spawn-project'), alloc, runId: token, timeoutMs: RUN_TIMEOUT_MS });
  for (const result of needMpi) {
    assert.equal(result.state, 'errored', result.id);
    assert.match(result.messages[0].text, /^needs an MPI world of 4 ranks, but login has no MPI launcher \(left out on purpose\)/);
  }
  const [placed] = await runTests([serial], { ...SETTING_DEFAULTS,
    root: path.join(REPO, 'test/fixtures/spawn-project'), alloc, runId: token, timeoutMs: RUN_TIMEOUT_MS,
    listener: { record: r => void (r.kind === 'hello' && rankHosts.set(r.rank, r.host)) },
  });
  assert.equal(placed.state, 'passed', JSON.stringify(placed.messages));
  assert.deepEqual([...rankHosts.entries()], [[0, NODES[0]]]);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token), 15_000), []);
  assert.deepEqual(await waitForNoStrays(15_000), []);
});

/** A CLI SIGKILLed while its 4 ranks hold on both nodes: within 10 s of the kill nothing of the run is left on any node. */
async function killCliAndCheck(allocation: string, extraArgs: string[] = []): Promise<string> {
  const project = holdingProject(path.join(REPO, 'out'));
  try {
    const killed = await killCliMidRun(project, ['--python', PYTHON, '--ranks', '4', '--allocation', allocation, ...extraArgs], { ranks: 4 });
    assert.match(killed.stderr, /\[rank 3\] holding/);
    // One deadline for both checks: each gets what the other left of the 10 s (at least one look).
    const deadline = killed.killedAt + 10_000;
    assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', killed.runId), deadline - Date.now()), [], killed.stderr);
    assert.deepEqual(await waitForNoStrays(deadline - Date.now()), []);
    return killed.stderr;
  } finally {
    fs.rmSync(project.root, { recursive: true, force: true });
  }
}

test('CLI killed outright mid-run, hosts allocation (mpirun here, ranks over ssh): nothing is left on any node', async () => {
  await killCliAndCheck(`hosts:${NODES.map(n => `${n}:2`).join(',')}`);
});

test('CLI killed outright mid-run, hosts allocation launched from a login host over ssh: its watchdog leaves nothing on any node', async () => {
  await killCliAndCheck(`${NODES[0]}/hosts:${NODES.map(n => `${n}:2`).join(',')}`);
});

/**
 * The job distest created leaves the queue within 15 s (squeue may list it a moment as it completes; one
 * that stays is cancelled here), and nothing of it is left on the login host (salloc and what it ran).
 */
async function assertJobGone(jobId: string, outlived: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let job = (await slurm.listJobs()).find(j => j.jobId === jobId);
  while (job && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 500));
    job = (await slurm.listJobs()).find(j => j.jobId === jobId);
  }
  if (job) execFileSync('scancel', [jobId]);
  assert.equal(job, undefined, `job ${jobId} distest created outlived ${outlived}`);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('SLURM_JOB_ID', jobId), 10_000), []);
}

test('CLI killed outright mid-run on a slurm:new job: the job it created leaves the queue, nothing is left on any node', async () => {
  const stderr = await killCliAndCheck('slurm:new', ['--nodes', '2', '--tasks', '4', '--time', '5']);
  const jobId = /Slurm job (\d+) granted/.exec(stderr)?.[1];
  assert.ok(jobId, stderr);
  await assertJobGone(jobId, 'the CLI');
});

const STUDY_PROJECT = path.join(REPO, 'test/fixtures/study-project');
const KERNEL = 'tests/test_scaling.py::test_kernel';

/** A rank process seen on a node while a study ran. */
interface RankSeen { node: string; runId: string; rank: number; size: number; jobId?: string }

/**
 * Watches the nodes for the rank processes of a run in `root` (DISTEST_ROOT, which mpirun's -x and srun's
 * --export=ALL hand every rank): the node each runs on, its launch (DISTEST_RUN_ID), rank, world size and
 * Slurm job. The study JSON does not say where ranks ran; the nodes' processes do.
 */
function watchRanks(root: string): { stop(): RankSeen[] } {
  const seen = new Map<string, RankSeen>();
  const wanted = `DISTEST_ROOT=${root}`;
  const look = () => {
    for (const node of NODES) {
      for (const pid of execFileSync('ip', ['netns', 'pids', node], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        let env: string[];
        try {
          env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        } catch {
          continue;
        }
        if (!env.includes(wanted)) continue;
        const get = (name: string) => env.find(e => e.startsWith(`${name}=`))?.slice(name.length + 1);
        const rank = get('OMPI_COMM_WORLD_RANK') ?? get('SLURM_PROCID');
        const size = get('OMPI_COMM_WORLD_SIZE') ?? get('SLURM_NTASKS');
        const runId = get('DISTEST_RUN_ID');
        if (rank === undefined || size === undefined || !runId) continue;
        seen.set(`${runId}/${rank}`, { node, runId, rank: Number(rank), size: Number(size), ...(get('SLURM_JOB_ID') ? { jobId: get('SLURM_JOB_ID') } : {}) });
      }
    }
  };
  const timer = setInterval(look, 100);
  return { stop: () => (clearInterval(timer), look(), [...seen.values()]) };
}

/** The launches the watch saw: per DISTEST_RUN_ID, its world size and the node of each rank. */
function launches(seen: RankSeen[]): { size: number; nodes: string[]; jobIds: string[] }[] {
  const byRun = new Map<string, RankSeen[]>();
  for (const r of seen) byRun.set(r.runId, [...(byRun.get(r.runId) ?? []), r]);
  return [...byRun.values()].map(ranks => {
    const sorted = ranks.sort((a, b) => a.rank - b.rank);
    assert.deepEqual(sorted.map(r => r.rank), [...Array(sorted[0].size).keys()], `every rank of the launch was seen: ${JSON.stringify(sorted)}`);
    return { size: sorted[0].size, nodes: sorted.map(r => r.node), jobIds: [...new Set(sorted.map(r => r.jobId ?? ''))] };
  });
}

/** `distest repeat|scale` through the CLI with the nodes watched; its processes here carry DISTEST_TEST_MARK. */
async function studyCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; mark: string; ranks: RankSeen[]; ms: number }> {
  const mark = randomBytes(6).toString('hex');
  const watch = watchRanks(STUDY_PROJECT);
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(REPO, 'dist/cli.js'), ...args], { env: { ...process.env, DISTEST_TEST_MARK: mark }, stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  const code = await new Promise<number | null>(resolve => child.on('close', resolve));
  clearTimeout(timer);
  const ms = Date.now() - started;
  process.stdout.write(`# distest ${args[0]} on ${args[args.indexOf('--allocation') + 1]}: ${(ms / 1000).toFixed(1)} s\n`);
  return { code, stdout, stderr, mark, ranks: watch.stop(), ms };
}

/** Nothing of a study is left: not here (the CLI's mpirun, ssh, salloc), not among the ranks on the nodes. */
async function assertStudyLeftNothing(mark: string): Promise<void> {
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark), 15_000), [], 'no process of the CLI is left here');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_ROOT', STUDY_PROJECT), 15_000), [], 'no rank of the study is left');
  assert.deepEqual(await waitForNoStrays(15_000), []);
}

test('CLI: scale 2,4 on a host list of both nodes: 4 ranks span them; times, speedup and efficiency consistent; CSV and JSON agree', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-scale-'));
  const out = path.join(dir, 'study.json');
  try {
    const res = await studyCli(['scale', STUDY_PROJECT, KERNEL, '--ranks', '2,4', '--repeat', '2', '--python', PYTHON,
      '--allocation', `hosts:${NODES.map(n => `${n}:2`).join(',')}`, '--csv', '--out', out]);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(fs.readFileSync(out, 'utf8')) as ScaleStudy;
    assert.deepEqual([s.kind, s.id, s.allocation, s.slots, s.cancelled, s.notes], ['scale', KERNEL, `hosts:${NODES.join(',')}`, 4, false, []]);
    assert.deepEqual(s.points.map(p => [p.ranks, p.samples.map(x => x.state)]), [[2, ['passed', 'passed']], [4, ['passed', 'passed']]]);
    const [two, four] = s.points;
    const times = JSON.stringify(s.points.map(p => [p.ranks, p.bodyMs, p.overheadMs]));
    for (const p of s.points) {
      assert.ok(p.bodyMs && two.bodyMs && p.speedup !== null && p.efficiency !== null, times);
      assert.ok(p.bodyMs.min <= p.bodyMs.median && p.bodyMs.median <= p.bodyMs.max, times);
      assert.ok((p.overheadMs ?? 0) > 0, times);
      // Strong scaling against the smallest count, 2: speedup = t2 / tn, efficiency = speedup × 2 / n.
      assert.ok(Math.abs(p.speedup - two.bodyMs.median / p.bodyMs.median) < 1e-9, times);
      assert.ok(Math.abs(p.efficiency - (p.speedup * 2) / p.ranks) < 1e-9, times);
    }
    assert.deepEqual([two.speedup, two.efficiency], [1, 1]);
    // 0.8 s of work (a sleep) split across the ranks: at least 0.4 s at 2 ranks, 0.2 s at 4. Less than
    // twice as fast here: the 2 ranks share dt-node1, the 4 span both nodes, and their first allreduce
    // over the nodes' TCP (connections set up, four busy-polling ranks on this machine's two CPUs) costs
    // about 0.1 s more (mpirun alone, without distest, measures the same).
    assert.ok(two.bodyMs!.min >= 395 && four.bodyMs!.min >= 195, times);
    assert.ok(four.speedup! > 1 && four.speedup! < 2.1, times);

    const lines = res.stdout.trim().split('\n');
    assert.equal(lines[0], 'ranks,median_ms,min_ms,max_ms,overhead_ms,speedup,efficiency,samples,passed');
    assert.equal(lines.length, 3, res.stdout);
    lines.slice(1).forEach((line, i) => {
      const [ranks, median, min, max, overhead, speedup, efficiency, samples, passed] = line.split(',').map(Number);
      const p = s.points[i];
      assert.deepEqual([ranks, samples, passed], [p.ranks, 2, 2]);
      assert.ok(Math.abs(median - p.bodyMs!.median) < 1e-3 && Math.abs(min - p.bodyMs!.min) < 1e-3 && Math.abs(max - p.bodyMs!.max) < 1e-3, line);
      assert.ok(Math.abs(overhead - p.overheadMs!) < 1e-3, line);
      assert.ok(Math.abs(speedup - p.speedup!) < 1e-4 && Math.abs(efficiency - p.efficiency!) < 1e-4, line);
    });

    // Where the ranks ran: four launches, every rank on a cluster node; both 4-rank launches span the two.
    const seen = launches(res.ranks);
    assert.deepEqual(seen.map(l => l.size).sort(), [2, 2, 4, 4], JSON.stringify(seen));
    for (const l of seen) assert.ok(l.nodes.every(n => NODES.includes(n)), JSON.stringify(l));
    for (const l of seen.filter(x => x.size === 4)) assert.deepEqual(l.nodes, [NODES[0], NODES[0], NODES[1], NODES[1]], JSON.stringify(l));
    process.stdout.write(`# scale over two nodes: ${lines.slice(1).join(' | ')}; 2-rank launches on ${seen.filter(l => l.size === 2).map(l => l.nodes.join('+')).join(', ')}\n`);
    await assertStudyLeftNothing(res.mark);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The jobs `sacct` records as started since `since` (local time, as sacct reads it): id, name and state. */
function jobsSince(since: Date): { jobId: string; name: string; state: string }[] {
  const pad = (n: number) => String(n).padStart(2, '0');
  const start = `${since.getFullYear()}-${pad(since.getMonth() + 1)}-${pad(since.getDate())}T${pad(since.getHours())}:${pad(since.getMinutes())}:${pad(since.getSeconds())}`;
  return execFileSync('sacct', ['-X', '-n', '-P', '-S', start, '-o', 'JobID,JobName,State'], { encoding: 'utf8', timeout: 30_000 })
    .split('\n').filter(Boolean).map(line => {
      const [jobId, name, state] = line.split('|');
      return { jobId, name, state };
    });
}

test('CLI: repeat --count 3 on slurm:new creates one job for the whole study, runs every iteration in it, and cancels it', async () => {
  assert.equal(createdBySuite, undefined, 'no allocation of the suite holds the nodes meanwhile');
  const since = new Date(Date.now() - 1000);
  const res = await studyCli(['repeat', STUDY_PROJECT, KERNEL, '--count', '3', '--ranks', '4', '--python', PYTHON,
    '--allocation', 'slurm:new', '--nodes', '2', '--tasks', '4', '--time', '5', '--json']);
  assert.equal(res.code, 0, res.stderr);
  const granted = [...res.stderr.matchAll(/Slurm job (\d+) granted/g)].map(m => m[1]);
  assert.equal(granted.length, 1, res.stderr);
  const [jobId] = granted;
  const s = JSON.parse(res.stdout) as RepeatStudy;
  assert.deepEqual([s.kind, s.id, s.allocation, s.ranks, s.requested, s.iterations, s.cancelled], ['repeat', KERNEL, `slurm:${jobId}`, 4, 3, 3, false]);
  assert.deepEqual(s.outcomes, { passed: 3, failed: 0, errored: 0, skipped: 0 });
  assert.deepEqual(s.runs.map(r => [r.iteration, r.state]), [[1, 'passed'], [2, 'passed'], [3, 'passed']]);

  // Three launches, each of 4 ranks over both nodes, every one of them inside that one job.
  const seen = launches(res.ranks);
  assert.deepEqual(seen.map(l => [l.size, l.jobIds]), [1, 2, 3].map(() => [4, [jobId]]), JSON.stringify(seen));
  for (const l of seen) assert.deepEqual([...new Set(l.nodes)].sort(), NODES, JSON.stringify(l));
  // The accounting agrees: distest made one job in the study's time, and it has ended. slurmctld hands
  // jobs to slurmdbd in the background: sacct may show the job's end a few seconds after the queue does.
  await assertJobGone(jobId, 'the study');
  const ended = (jobs: { jobId: string; state: string }[]) => /^(CANCELLED|COMPLETED)/.test(jobs.find(j => j.jobId === jobId)?.state ?? '');
  let accounted = jobsSince(since);
  for (const deadline = Date.now() + 20_000; !ended(accounted) && Date.now() < deadline; accounted = jobsSince(since)) {
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  assert.ok(ended(accounted), JSON.stringify(accounted));
  const made = accounted.filter(j => j.name.startsWith('distest-'));
  assert.deepEqual(made.map(j => j.jobId), [jobId], JSON.stringify(made));
  await assertStudyLeftNothing(res.mark);
});

const DEBUG_PROJECT = path.join(REPO, 'test/fixtures/debug-project');
const DEBUG_FILE = path.join(DEBUG_PROJECT, 'tests/test_debug.py');

/**
 * A Debug run of 4 ranks over both nodes: a DAP client attaches to each endpoint (a port here, relayed
 * through the launching host to the node's loopback), stops at the breakpoint, reads comm.rank, continues.
 */
async function debug4(alloc: HostsAllocation | SlurmAllocation): Promise<void> {
  const token = `debug${Date.now().toString(16)}`;
  const endpoints: DebugEndpoint[] = [];
  const clients: DapClient[] = [];
  const attaching: Promise<void>[] = [];
  const notes: string[] = [];
  let ended = false;
  const attach = async (e: DebugEndpoint) => {
    const client = await DapClient.connect(e.host, e.port);
    clients.push(client);
    await client.attach({ breakpoints: { [DEBUG_FILE]: [9] }, pathMappings: e.pathMappings });
    const stopped = await client.waitEvent('stopped', { timeoutMs: 60_000 });
    const threadId = stopped.body?.threadId as number;
    const frame = await client.topFrame(threadId);
    assert.equal(frame.line, 9, `rank ${e.rank} on ${e.node}`);
    assert.equal(await client.evaluate('comm.rank', frame.id), String(e.rank));
    await client.request('continue', { threadId });
  };
  const [result] = await runTests([{ ...spec('tests/test_debug.py::test_ranks_meet') }], { ...SETTING_DEFAULTS,
    root: DEBUG_PROJECT, alloc, runId: token, ranksOverride: 4, timeoutMs: RUN_TIMEOUT_MS,
    debug: { ranks: 'all', waitSeconds: 60, breakOnFailure: false },
    listener: {
      debugEndpoint: e => void (endpoints.push(e), attaching.push(attach(e))),
      debugLaunchEnded: () => void (ended = true),
      note: t => void notes.push(t),
    },
  });
  await Promise.all(attaching);
  for (const client of clients) client.destroy();
  assert.equal(result.state, 'passed', `${JSON.stringify(result.messages)}\n${notes.join('\n')}`);
  assert.deepEqual(endpoints.map(e => e.rank).sort(), [0, 1, 2, 3]);
  assert.deepEqual([...new Set(endpoints.map(e => e.node))].sort(), NODES);
  assert.ok(endpoints.every(e => e.host === '127.0.0.1'));
  assert.ok(ended, 'debugLaunchEnded');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', token), 15_000), [], 'no rank, adapter or bridge is left');
  assert.deepEqual(await waitForNoStrays(15_000), []);
}

test('debug: hosts allocation, 4 ranks on two nodes, a client on each relayed endpoint (bridge over ssh) stops at the breakpoint', async () => {
  await debug4(await hostsAllocation(2));
});

test('debug: slurm allocation, 4 ranks on two nodes through srun, a client on each relayed endpoint stops at the breakpoint', async () => {
  createdBySuite ??= await slurm.allocate({ nodes: 2, tasks: 4, minutes: 10, python: PYTHON });
  await debug4(createdBySuite);
});
