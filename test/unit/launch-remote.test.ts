import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostsAllocation, PbsAllocation, SlurmAllocation } from '../../src/core/allocation/allocation';
import type { MpiInstall } from '../../src/core/allocation/mpi';
import { planRun, type PlanOptions } from '../../src/core/launch/plan';
import { LocalHost } from '../../src/core/transport/local';
import type { Framework, TestSpec } from '../../src/core/types';

const OPENMPI: MpiInstall = { path: '/usr/bin/mpirun', flavour: 'openmpi', version: '4.1.4' };
const MPICH: MpiInstall = { path: '/opt/mpich/bin/mpiexec', flavour: 'mpich', version: '4.0.2' };
// The project's inifile loads pytest_parallel (as the fixtures' conftest does), so distest adds no -p of its own.
const OPTS: PlanOptions = { root: '/proj', assetDir: '/ext/dist', token: 'ab'.repeat(16), runId: 'cd'.repeat(16), asRoot: false, pytestConfigArgs: ['-p', 'pytest_parallel.plugin'], defaultRanks: 2 };
const PYTEST = ['/usr/bin/python3', '-m', 'pytest', '-p', 'distest_pytest', '-p', 'no:cacheprovider', '--color=no', '-q', '-s'];
const host = new LocalHost('login');

function spec(id: string, framework: Framework, ranks: number | null, extra: Partial<TestSpec> = {}): TestSpec {
  return { id, label: id, file: id.split('::')[0], range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework, ranks, ...extra };
}

const hosts = (mpi: MpiInstall | null): HostsAllocation => ({
  kind: 'hosts', host, hosts: [{ name: 'n1', slots: 2 }, { name: 'n2', slots: 2 }], python: '/usr/bin/python3', mpi,
});
const slurm: SlurmAllocation = { kind: 'slurm', host, jobId: '5', nodes: 2, tasks: 4, python: '/usr/bin/python3', created: true };
const pbs: PbsAllocation = { kind: 'pbs', host, jobId: '12.pbs01', nodes: 2, ppn: 4, python: '/usr/bin/python3' };

test('hosts + OpenMPI: --host list, every distest variable forwarded with -x, even one rank goes through mpirun', () => {
  const plan = planRun([spec('t/a.py::t[4]', 'pytest_parallel', 4), spec('t/a.py::serial', 'pytest', 1)], hosts(OPENMPI), OPTS);
  const forward = Object.keys(plan.steps[0].env).flatMap(name => ['-x', name]);
  for (const name of ['DISTEST_TOKEN', 'DISTEST_ROOT', 'PYTHONPATH', 'PYTHONUNBUFFERED']) assert.ok(forward.includes(name), name);
  assert.deepEqual(plan.steps.map(s => [s.tagStyle, s.argv]), [
    ['openmpi', ['/usr/bin/mpirun', '--tag-output', '--host', 'n1:2,n2:2', ...forward, '-np', '1', ...PYTEST, 't/a.py::serial']],
    ['openmpi', ['/usr/bin/mpirun', '--tag-output', '--host', 'n1:2,n2:2', ...forward, '-np', '4', ...PYTEST, 't/a.py::t[4]']],
  ]);
  assert.equal(plan.steps[1].env.PYTHONPATH, '/ext/dist/agent');
});

test('hosts + MPICH: -hosts (Hydra passes the environment itself)', () => {
  const plan = planRun([spec('t/a.py::t[2]', 'pytest_parallel', 2)], hosts(MPICH), OPTS);
  assert.deepEqual(plan.steps[0].argv, ['/opt/mpich/bin/mpiexec', '-prepend-rank', '-hosts', 'n1:2,n2:2', '-n', '2', ...PYTEST, 't/a.py::t[2]']);
});

test('hosts: more ranks than slots are skipped, never oversubscribed', () => {
  const plan = planRun([spec('t/a.py::t[8]', 'pytest_parallel', 8)], hosts(OPENMPI), OPTS);
  assert.deepEqual(plan.skipped, [{ id: 't/a.py::t[8]', reason: 'needs 8 ranks, allocation hosts:n1,n2 has 4 slots' }]);
});

test('hosts without MPI: tests that need an MPI world of several ranks error (a world of one would skip them); serial ones are spawned', () => {
  const specs = [spec('t/a.py::t[3]', 'pytest_parallel', 3), spec('t/m.py::t', 'pytest-mpi', 2), spec('t/s.py::t', 'pytest', 1), spec('t/one.py::t[1]', 'pytest_parallel', 1)];
  const plan = planRun(specs, { ...hosts(null), mpiProblem: 'no mpirun on login' }, OPTS);
  assert.deepEqual(plan.errored.map(p => p.id).sort(), ['t/a.py::t[3]', 't/m.py::t']);
  const threeRanks = plan.errored.find(p => p.id === 't/a.py::t[3]');
  assert.match(threeRanks?.reason ?? '', /^needs an MPI world of 3 ranks, but login has no MPI launcher \(no mpirun on login\)/);
  const forward = Object.keys(plan.steps[0].env).flatMap(name => ['--env', name]);
  assert.deepEqual(plan.steps.map(s => [s.tagStyle, s.argv]), [
    ['openmpi', ['/usr/bin/python3', '/ext/dist/agent/distest_spawn.py', '--hosts', 'n1:2,n2:2', '--np', '1', ...forward, '--', ...PYTEST, 't/s.py::t', 't/one.py::t[1]']],
  ]);
  assert.match(plan.steps[0].note ?? '', /no MPI launcher on login \(no mpirun on login\): ranks started per host/);
});

test('hosts: an mpirun launcher template gets the host list and forwarding too', () => {
  const launcher = { glob: 't/*.py', launcher: 'mpirun -np {ranks} {python} -m unittest {file}' };
  const plan = planRun([spec('t/u.py::T::test_x', 'unittest', 2, { launcher })], hosts(OPENMPI), OPTS);
  assert.deepEqual(plan.steps[0].argv.slice(0, 4), ['/usr/bin/mpirun', '--tag-output', '--host', 'n1:2,n2:2']);
  assert.deepEqual(plan.steps[0].argv.slice(-6), ['-np', '2', '/usr/bin/python3', '-m', 'unittest', 't/u.py']);
});

test('slurm: srun into the job, labelled, pmix, environment exported; too many ranks skipped', () => {
  const plan = planRun([spec('t/b.py::m', 'pytest-mpi', 2), spec('t/a.py::t[8]', 'pytest_parallel', 8)], slurm, { ...OPTS, ranksOverride: 4 });
  assert.deepEqual(plan.steps.map(s => [s.tagStyle, s.argv]), [
    ['srun', ['srun', '--jobid=5', '--overlap', '-N', '2', '-n', '4', '--label', '--kill-on-bad-exit=1', '--export=ALL', '--mpi=pmix', ...PYTEST, '--with-mpi', 't/b.py::m']],
  ]);
  assert.deepEqual(plan.skipped, [{ id: 't/a.py::t[8]', reason: 'needs 8 ranks, allocation slurm:5 has 4 tasks' }]);
  const one = planRun([spec('t/a.py::serial', 'pytest', 1)], { ...slurm, mpiPlugin: 'pmi2' }, OPTS);
  assert.deepEqual(one.steps[0].argv.slice(0, 11), ['srun', '--jobid=5', '--overlap', '-N', '1', '-n', '1', '--label', '--kill-on-bad-exit=1', '--export=ALL', '--mpi=pmi2']);
});

test('slurm and pbs: launcher templates are skipped with the reason', () => {
  const launcher = { glob: 't/*.py', launcher: 'mpirun -np {ranks} {python} -m unittest {file}' };
  const plan = planRun([spec('t/u.py::T::test_x', 'unittest', 2, { launcher })], slurm, OPTS);
  assert.match(plan.skipped[0].reason, /^launcher templates run on local and host-list allocations only; slurm:5 cannot run t\/u.py/);
});

test('pbs (PALS flags as documented, not tested on a PBS system): mpiexec -n --ppn --label --envall', () => {
  const plan = planRun([spec('t/a.py::t[4]', 'pytest_parallel', 4), spec('t/a.py::t[9]', 'pytest_parallel', 9)], pbs, OPTS);
  assert.deepEqual(plan.steps.map(s => [s.tagStyle, s.argv]), [
    ['srun', ['mpiexec', '-n', '4', '--ppn', '4', '--label', '--envall', ...PYTEST, 't/a.py::t[4]']],
  ]);
  assert.deepEqual(plan.skipped, [{ id: 't/a.py::t[9]', reason: 'needs 9 ranks, allocation pbs:12.pbs01 has 8 slots' }]);
});
