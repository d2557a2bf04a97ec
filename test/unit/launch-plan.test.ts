import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostsAllocation, LocalAllocation, PbsAllocation, SlurmAllocation } from '../../src/core/allocation/allocation';
import type { MpiInstall } from '../../src/core/allocation/mpi';
import { placeStep, planRun, selectByFiles, SELECT_VARIABLE, splitStep, type PlanOptions } from '../../src/core/launch/plan';
import { LocalHost } from '../../src/core/transport/local';
import type { Framework, LauncherTemplate, TestSpec } from '../../src/core/types';

const OPENMPI: MpiInstall = { path: '/usr/bin/mpirun', flavour: 'openmpi', version: '4.1.4' };
const MPICH: MpiInstall = { path: '/opt/mpich/bin/mpiexec', flavour: 'mpich', version: '4.0.2' };

function alloc(over: Partial<LocalAllocation> = {}): LocalAllocation {
  return { kind: 'local', host: new LocalHost(), slots: 2, oversubscribe: true, python: '/usr/bin/python3', mpi: OPENMPI, ...over };
}

// The project's inifile loads pytest_parallel (as the fixtures' conftest does), so distest adds no -p of its own.
const OPTS: PlanOptions = { root: '/proj', assetDir: '/ext/dist', token: 'ab'.repeat(16), runId: 'cd'.repeat(16), asRoot: false, pytestConfigArgs: ['-p', 'pytest_parallel.plugin'], defaultRanks: 2 };

function spec(id: string, framework: Framework, ranks: number | null, extra: Partial<TestSpec> = {}): TestSpec {
  const file = id.split('::')[0];
  return { id, label: id.split('::').pop() as string, file, range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework, ranks, ...extra };
}

const PYTEST = ['/usr/bin/python3', '-m', 'pytest', '-p', 'distest_pytest', '-p', 'no:cacheprovider', '--color=no', '-q', '-s'];

test('pytest-family tests are batched per rank count; 1 rank runs without mpirun', () => {
  const plan = planRun(
    [
      spec('t/a.py::test_par[2]', 'pytest_parallel', 2),
      spec('t/a.py::test_serial', 'pytest', 1),
      spec('t/b.py::test_mpi', 'pytest-mpi', 2),
      spec('t/a.py::test_par[3]', 'pytest_parallel', 3),
      spec('t/b.py::test_mpi_one', 'pytest-mpi', 1),
    ],
    alloc(),
    OPTS,
  );
  assert.deepEqual(plan.skipped, []);
  assert.deepEqual(plan.errored, []);
  assert.deepEqual(
    plan.steps.map(s => [s.ranks, s.tagStyle, s.argv]),
    [
      [1, 'none', [...PYTEST, '--with-mpi', 't/a.py::test_serial', 't/b.py::test_mpi_one']],
      [2, 'openmpi', ['/usr/bin/mpirun', '--tag-output', '-np', '2', ...PYTEST, '--with-mpi', 't/a.py::test_par[2]', 't/b.py::test_mpi']],
      [3, 'openmpi', ['/usr/bin/mpirun', '--tag-output', '-np', '3', '--oversubscribe', ...PYTEST, 't/a.py::test_par[3]']],
    ],
  );
  assert.deepEqual(plan.steps[1].tests, [{ id: 't/a.py::test_par[2]', ranks: 2 }, { id: 't/b.py::test_mpi', ranks: 2 }]);
  assert.equal(plan.steps[2].note, 'oversubscribed: 3 ranks on 2 slots');
  assert.equal(plan.steps[0].cwd, '/proj');
});

test('step env: token, an independent run id, root, agent on PYTHONPATH before the inherited one, unbuffered', () => {
  const plan = planRun([spec('t/a.py::t', 'pytest', 1)], alloc(), { ...OPTS, inheritedPythonPath: '/user/lib' });
  assert.deepEqual(plan.steps[0].env, {
    DISTEST_TOKEN: OPTS.token,
    DISTEST_RUN_ID: OPTS.runId,
    DISTEST_ROOT: '/proj',
    PYTHONPATH: '/ext/dist/agent:/user/lib',
    PYTHONUNBUFFERED: '1',
  });
});

test('OpenMPI as root gets the run-as-root permission; MPICH does not need it', () => {
  const tests = [spec('t/a.py::t[2]', 'pytest_parallel', 2)];
  const asRoot = planRun(tests, alloc(), { ...OPTS, asRoot: true }).steps[0].env;
  assert.equal(asRoot.OMPI_ALLOW_RUN_AS_ROOT, '1');
  assert.equal(asRoot.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM, '1');
  const mpich = planRun(tests, alloc({ mpi: MPICH, slots: 1 }), { ...OPTS, asRoot: true }).steps[0];
  assert.equal(mpich.env.OMPI_ALLOW_RUN_AS_ROOT, undefined);
  assert.deepEqual(mpich.argv.slice(0, 4), ['/opt/mpich/bin/mpiexec', '-prepend-rank', '-n', '2']);
  assert.equal(mpich.tagStyle, 'mpich');
});

test('distest.local.slots above the CPU count: launches beyond the CPUs still get --oversubscribe (OpenMPI counts cores)', () => {
  const plan = planRun([spec('t/a.py::t[3]', 'pytest_parallel', 3), spec('t/a.py::t[2]', 'pytest_parallel', 2)], alloc({ slots: 4, cpus: 2, oversubscribe: false }), OPTS);
  assert.deepEqual(plan.skipped, []);
  assert.deepEqual(plan.steps.map(s => [s.ranks, s.argv.includes('--oversubscribe'), s.note]), [[2, false, undefined], [3, true, undefined]]);
});

test('more ranks than slots without oversubscription: skipped with the reason', () => {
  const plan = planRun([spec('t/a.py::t[4]', 'pytest_parallel', 4), spec('t/a.py::t[2]', 'pytest_parallel', 2)], alloc({ oversubscribe: false }), OPTS);
  assert.deepEqual(plan.skipped, [{ id: 't/a.py::t[4]', reason: 'needs 4 ranks, the allocation has 2 slots (enable distest.local.oversubscribe to run anyway)' }]);
  assert.equal(plan.steps.length, 1);
});

test('invalid markers and missing MPI become errored, serial tests still run', () => {
  const plan = planRun(
    [spec('t/a.py::bad', 'pytest_parallel', null, { invalid: 'parallel() needs a rank count' }), spec('t/a.py::t[2]', 'pytest_parallel', 2), spec('t/a.py::s', 'pytest', 1)],
    alloc({ mpi: null, mpiProblem: 'no mpirun or mpiexec found on local; install OpenMPI' }),
    OPTS,
  );
  assert.deepEqual(plan.errored, [
    { id: 't/a.py::bad', reason: 'parallel() needs a rank count' },
    { id: 't/a.py::t[2]', reason: 'needs 2 ranks: no mpirun or mpiexec found on local; install OpenMPI' },
  ]);
  assert.deepEqual(plan.steps.map(s => s.tests.map(t => t.id)), [['t/a.py::s']]);
});

test('dynamic counts run with the override, else the default, and the step says so', () => {
  const dyn = spec('t/a.py::t', 'pytest_parallel', null, { dynamic: 'parallel(N): N is not a literal' });
  const byDefault = planRun([dyn], alloc(), { ...OPTS, defaultRanks: 3 }).steps[0];
  assert.equal(byDefault.ranks, 3);
  assert.match(byDefault.note ?? '', /rank count decided at run time \(parallel\(N\): N is not a literal\); running with 3 ranks \(distest.mpiDefaultRanks\)/);
  const overridden = planRun([dyn, spec('t/b.py::m', 'pytest-mpi', 2), spec('t/c.py::p', 'pytest_parallel', 2)], alloc(), { ...OPTS, ranksOverride: 4 });
  assert.deepEqual(overridden.steps.map(s => [s.ranks, s.tests.map(t => t.id)]), [
    [2, ['t/c.py::p']],
    [4, ['t/a.py::t', 't/b.py::m']],
  ]);
  assert.match(overridden.steps[1].note ?? '', /running with 4 ranks \(--ranks\)/);
});

test('long id lists are split so no argv exceeds the limit', () => {
  const many = Array.from({ length: 50 }, (_, i) => spec(`t/a.py::test_${'x'.repeat(40)}_${i}[2]`, 'pytest_parallel', 2));
  const plan = planRun(many, alloc(), { ...OPTS, maxArgvBytes: 1000 });
  assert.ok(plan.steps.length > 1);
  for (const s of plan.steps) assert.ok(s.argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) <= 1000);
  assert.deepEqual(plan.steps.flatMap(s => s.tests.map(t => t.id)), many.map(s => s.id));
  assert.match(plan.steps[0].note ?? '', /part 1 of \d+ \(argv limit\)/);
});

function unittestSpec(id: string, launcher: LauncherTemplate, ranks: number | null = launcher.ranks || null): TestSpec {
  return spec(id, 'unittest', ranks, { launcher });
}

test('launcher templates: one step per file with "batch": false, placeholders filled, tag flag and oversubscription inserted', () => {
  const launcher = { glob: 'tests/multi_node/**', launcher: 'mpiexec -n {ranks} {python} {file} {tests}', ranks: 3, batch: false };
  const file = 'tests/multi node/t;x.py';
  const plan = planRun(
    [unittestSpec(`${file}::TestWorld::test_a`, launcher), unittestSpec(`${file}::TestWorld::test_b`, launcher), unittestSpec('tests/multi_node/u.py::T::t', launcher)],
    alloc(),
    OPTS,
  );
  assert.deepEqual(plan.steps.map(s => s.argv), [
    ['/usr/bin/mpirun', '--tag-output', '--oversubscribe', '-n', '3', '/usr/bin/python3', file, 'TestWorld.test_a', 'TestWorld.test_b'],
    ['/usr/bin/mpirun', '--tag-output', '--oversubscribe', '-n', '3', '/usr/bin/python3', 'tests/multi_node/u.py', 'T.t'],
  ]);
  assert.equal(plan.steps[0].tagStyle, 'openmpi');
  assert.equal(plan.steps[0].env.PYTHONPATH, '/ext/dist/agent');
});

test('launcher templates ending in {python} {file}: files sharing template and count run in one launch through distest_unittest', () => {
  const launcher = { glob: 'tests/**', launcher: 'mpiexec -n {ranks} {python} {file} {tests}', ranks: 3 };
  const file = 'tests/multi node/t;x.py';
  const plan = planRun(
    [unittestSpec(`${file}::TestWorld::test_a`, launcher), unittestSpec('tests/u.py::T::t', launcher), unittestSpec(`${file}::TestWorld::test_b`, launcher),
      unittestSpec('tests/v.py::T::t', launcher, 2)],
    alloc(),
    OPTS,
  );
  assert.deepEqual(plan.steps.map(s => s.argv), [
    ['/usr/bin/mpirun', '--tag-output', '--oversubscribe', '-n', '3', '/usr/bin/python3', '-m', 'distest_unittest',
      '--file', file, 'TestWorld.test_a', 'TestWorld.test_b', '--file', 'tests/u.py', 'T.t'],
    ['/usr/bin/mpirun', '--tag-output', '-n', '2', '/usr/bin/python3', 'tests/v.py', 'T.t'],
  ]);
  assert.deepEqual(plan.steps[0].tests.map(t => t.id), [`${file}::TestWorld::test_a`, `${file}::TestWorld::test_b`, 'tests/u.py::T::t']);
  // Templates that do more with the file than run it stay one launch per file.
  for (const template of ['{python} -X x={file} {file}', 'dragon {file}', "sh -c '{python} {file}'", '{python} {file} -v']) {
    const steps = planRun([unittestSpec('t/a.py::T::t', { glob: '*', launcher: template, ranks: 1 }), unittestSpec('t/b.py::T::t', { glob: '*', launcher: template, ranks: 1 })], alloc(), OPTS).steps;
    assert.equal(steps.length, 2, template);
  }
});

test('launcher templates with {files}: every file of the batch, one argument each; split at the argv limit', () => {
  const launcher = { glob: '*', launcher: "sh -c 'exec {python} run_all.py {files}'", ranks: 1 };
  const specs = ['t/a b.py', 't/$(x).py', 't/c.py'].map(f => unittestSpec(`${f}::T::t`, launcher));
  const plan = planRun(specs, alloc(), OPTS);
  assert.deepEqual(plan.steps.map(s => s.argv), [['sh', '-c', 'exec "${1}" run_all.py "${2}" "${3}" "${4}"', 'distest-launch', '/usr/bin/python3', 't/a b.py', 't/$(x).py', 't/c.py']]);
  const split = planRun(specs, alloc(), { ...OPTS, maxArgvBytes: 80 });
  assert.deepEqual(split.steps.map(s => s.tests.length), [1, 1, 1]);
  assert.match(split.steps[0].note ?? '', /part 1 of 3 \(argv limit\)/);
});

test('launcher templates: an existing tag flag is kept, srun gets -l, others run untagged', () => {
  const run = (template: string, mpi: MpiInstall | null = OPENMPI) =>
    planRun([unittestSpec('t/u.py::T::t', { glob: '*', launcher: template, ranks: 2 })], alloc({ mpi }), OPTS);
  assert.deepEqual(run('mpirun --tag-output -np {ranks} {python} {file}').steps[0].argv, ['/usr/bin/mpirun', '--tag-output', '-np', '2', '/usr/bin/python3', 't/u.py']);
  assert.deepEqual(run('{mpiexec} -l -n {ranks} {python} {file}', MPICH).steps[0].argv, ['/opt/mpich/bin/mpiexec', '-l', '-n', '2', '/usr/bin/python3', 't/u.py']);
  const srun = run('srun -n {ranks} {python} {file}').steps[0];
  assert.deepEqual([srun.tagStyle, srun.argv], ['srun', ['srun', '-l', '-n', '2', '/usr/bin/python3', 't/u.py']]);
  const dragon = run('dragon {file} -f -v', null).steps[0];
  assert.deepEqual([dragon.tagStyle, dragon.argv], ['none', ['dragon', 't/u.py', '-f', '-v']]);
});

test('launcher templates: shell operators and unittest without a template are errored with the reason', () => {
  const plan = planRun(
    [unittestSpec('t/u.py::T::t', { glob: '*', launcher: 'mpiexec -n 2 {python} {file} | tee log', ranks: 2 }), spec('t/v.py::T::t', 'unittest', 2)],
    alloc(),
    OPTS,
  );
  assert.equal(plan.steps.length, 0);
  const reason = (id: string) => plan.errored.find(e => e.id === id)?.reason ?? '';
  assert.match(reason('t/u.py::T::t'), /shell operator \|/);
  assert.match(reason('t/v.py::T::t'), /no launcher template applies to t\/v.py/);
});

test('a template leaving the count to the launcher expects an unknown count (0)', () => {
  const plan = planRun([unittestSpec('t/u.py::T::t', { glob: '*', launcher: 'dragon {file}', ranks: 0 })], alloc(), OPTS);
  assert.deepEqual(plan.steps[0].tests, [{ id: 't/u.py::T::t', ranks: 0 }]);
});

test('duplicate ids are planned once', () => {
  const s = spec('t/a.py::t', 'pytest', 1);
  assert.deepEqual(planRun([s, s], alloc(), OPTS).steps[0].tests, [{ id: 't/a.py::t', ranks: 1 }]);
});

test("pytest_parallel's self-launching schedulers in distest.pytestArgs are errored with the reason; sequential and static run", () => {
  const tests = [spec('t/a.py::test_par[2]', 'pytest_parallel', 2), spec('t/a.py::test_serial', 'pytest', 1)];
  for (const args of [['--scheduler=dynamic'], ['-x', '--scheduler', 'shell'], ['--scheduler=slurm']]) {
    const plan = planRun(tests, alloc(), { ...OPTS, extraPytestArgs: args });
    assert.deepEqual(plan.steps, [], args.join(' '));
    assert.deepEqual(plan.errored.map(e => e.id), ['t/a.py::test_serial', 't/a.py::test_par[2]']);
    assert.match(plan.errored[0].reason, /^pytest_parallel's --scheduler=(dynamic|shell|slurm) \(in distest.pytestArgs\) .*: remove it, or use --scheduler=sequential \(the default\) or --scheduler=static$/);
  }
  for (const args of [['--scheduler=static'], ['--scheduler', 'sequential'], ['--scheduler=constructor']]) {
    const plan = planRun(tests, alloc(), { ...OPTS, extraPytestArgs: args });
    assert.deepEqual([plan.errored, plan.steps.length], [[], 2], args.join(' '));
    assert.deepEqual(plan.steps[1].argv.slice(-1 - args.length), [...args, 't/a.py::test_par[2]']);
  }
});

test('oversubscription stops at distest.local.maxRanksPerSlot × slots: beyond it tests are errored, naming count, slots, factor and setting', () => {
  const huge = [spec('t/a.py::t[100000]', 'pytest_parallel', 100000), spec('t/a.py::t[8]', 'pytest_parallel', 8), spec('t/a.py::t[9]', 'pytest_parallel', 9)];
  const plan = planRun(huge, alloc(), OPTS);
  const reason = (n: number) =>
    `needs ${n} ranks, more than 4× the 2 slots of the local machine (8 ranks at most); raise distest.local.maxRanksPerSlot (0: no limit) to run it anyway`;
  assert.deepEqual(plan.errored, [{ id: 't/a.py::t[9]', reason: reason(9) }, { id: 't/a.py::t[100000]', reason: reason(100000) }]);
  assert.deepEqual(plan.steps.map(s => s.ranks), [8]);
  // The limit moves with the setting; 0 lifts it.
  assert.deepEqual(planRun(huge, alloc({ maxRanksPerSlot: 5 }), OPTS).steps.map(s => s.ranks), [8, 9]);
  assert.deepEqual(planRun(huge, alloc({ maxRanksPerSlot: 0 }), OPTS).steps.map(s => s.ranks), [8, 9, 100000]);
  // --ranks goes through the same check, and so do launcher templates, MPI or not.
  const dynamic = spec('t/b.py::d', 'pytest_parallel', null, { dynamic: 'parallel(N)' });
  assert.match(planRun([dynamic], alloc(), { ...OPTS, ranksOverride: 1_000_000 }).errored[0]?.reason ?? '', /^needs 1000000 ranks, more than 4× the 2 slots/);
  for (const launcher of ['mpiexec -n {ranks} {python} {file}', 'dragon -n {ranks} {file}']) {
    const templated = planRun([unittestSpec('t/u.py::T::t', { glob: '*', launcher, ranks: 500 })], alloc(), OPTS);
    assert.deepEqual([templated.steps.length, templated.errored[0]?.reason], [0, reason(500)], launcher);
  }
});

test('a file name that is not UTF-8 reaches pytest percent-encoded (the agent restores it); a launcher template refuses it', () => {
  const file = `t/d\uDCFF/test_\uDCFE.py`;
  const plan = planRun([spec(`${file}::test_a`, 'pytest', 1), unittestSpec(`${file}::T::test_b`, { glob: '*', launcher: '{python} {file}', ranks: 1 })], alloc(), OPTS);
  assert.deepEqual(plan.steps.map(s => [s.argv.at(-1), s.tests]), [['distest-fsname:t/d%FF/test_%FE.py::test_a', [{ id: `${file}::test_a`, ranks: 1 }]]]);
  assert.deepEqual(plan.errored.map(e => e.reason), [
    'the name of t/d\\xff/test_\\xfe.py is not valid UTF-8, and a launcher template can only be given UTF-8 arguments (distest passes such names to pytest ranks only): rename the file to run it under a launcher',
  ]);
});

test('tests of a nested test root run in a launch of their own, from that folder as rootdir, on ids relative to it', () => {
  const plan = planRun(
    [
      spec('t/a.py::test_top', 'pytest', 1),
      spec('sub/t/b.py::nested_x', 'pytest', 1, { testRoot: 'sub' }),
      spec('sub/t/b.py::nested_y[2]', 'pytest', 1, { testRoot: 'sub' }),
    ],
    alloc(),
    OPTS,
  );
  assert.deepEqual(plan.steps.map(s => [s.cwd, s.argv, s.tests.map(t => t.id)]), [
    ['/proj', [...PYTEST, 't/a.py::test_top'], ['t/a.py::test_top']],
    ['/proj/sub', [...PYTEST, '--rootdir=/proj/sub', 't/b.py::nested_x', 't/b.py::nested_y[2]'], ['sub/t/b.py::nested_x', 'sub/t/b.py::nested_y[2]']],
  ]);
});

test('a launch holding pytest_parallel tests loads its plugin unless the configuration or distest.pytestArgs already name it', () => {
  const tests = [spec('t/a.py::test_par[2]', 'pytest_parallel', 2), spec('t/b.py::test_mpi[2]', 'pytest-mpi', 2), spec('t/c.py::test_s', 'pytest', 1)];
  const argvs = (opts: Partial<PlanOptions>) => planRun(tests, alloc(), { ...OPTS, pytestConfigArgs: [], ...opts }).steps.map(s => s.argv.join(' '));
  const bare = argvs({});
  assert.ok(bare[1].includes(' -p pytest_parallel.plugin '), bare[1]);
  assert.ok(!bare[0].includes('pytest_parallel'), bare[0]);
  for (const named of [{ pytestConfigArgs: ['-ppytest_parallel.plugin'] }, { extraPytestArgs: ['-p', 'pytest_parallel.plugin'] }, { extraPytestArgs: ['-p', 'no:pytest_parallel.plugin'] }]) {
    const argv = argvs(named)[1];
    assert.equal(argv.split('pytest_parallel.plugin').length - 1, named.extraPytestArgs ? 1 : 0, argv);
  }
});

test('splitStep divides a pytest launch by its ids; placeStep narrows a host list to the slots a launch got', () => {
  const specs = ['t/a.py::x[2]', 't/a.py::y[2]', 't/b.py::z[2]'].map(id => spec(id, 'pytest_parallel', 2));
  const [step] = planRun(specs, alloc({ slots: 4 }), { ...OPTS, concurrent: true }).steps;
  assert.deepEqual(step.argv.slice(0, 6), ['/usr/bin/mpirun', '--tag-output', '--bind-to', 'none', '-np', '2'], 'side by side, OpenMPI binds no cores');
  const [whole] = planRun(specs, alloc({ slots: 2 }), { ...OPTS, concurrent: true }).steps;
  assert.deepEqual(whole.argv.slice(0, 4), ['/usr/bin/mpirun', '--tag-output', '-np', '2'], 'a launch on every slot has nothing beside it: OpenMPI binds as the bare launcher does');
  const parts = splitStep(step, [['t/a.py::x[2]', 't/b.py::z[2]'], ['t/a.py::y[2]']]);
  assert.deepEqual(parts.map(p => p.argv.slice(-2)), [['t/a.py::x[2]', 't/b.py::z[2]'], [PYTEST.at(-1), 't/a.py::y[2]']]);
  assert.deepEqual(parts.map(p => p.tests.map(t => t.id)), [['t/a.py::x[2]', 't/b.py::z[2]'], ['t/a.py::y[2]']]);
  assert.equal(parts[1].note, 'part 2 of 2 (packed beside other launches)');
  const hostsAlloc: HostsAllocation = { kind: 'hosts', host: new LocalHost(), hosts: [{ name: 'n1', slots: 2 }, { name: 'n2', slots: 2 }], python: '/usr/bin/python3', mpi: OPENMPI };
  const [onHosts] = planRun(specs, hostsAlloc, OPTS).steps;
  assert.equal(onHosts.hostList, 'n1:2,n2:2');
  const placed = placeStep(onHosts, [{ name: 'n2', slots: 2 }]);
  assert.deepEqual(placed.argv.slice(0, 4), ['/usr/bin/mpirun', '--tag-output', '--host', 'n2:2']);
  assert.equal(placed.argv.filter(w => w === 'n1:2,n2:2').length, 0);
});

test('selectByFiles: a pytest launch names its files once each, in order, and its ids in DISTEST_SELECT; one test, encoded names, [ or :: in a file name keep their ids', () => {
  const specs = ['t/a.py::x', 't/b.py::C::y[1-2]', 't/a.py::z'].map(id => spec(id, 'pytest', 1));
  const [step] = planRun(specs, alloc(), OPTS).steps;
  const selected = selectByFiles(step);
  assert.deepEqual(selected.argv, [...PYTEST, 't/a.py', 't/b.py']);
  assert.deepEqual(JSON.parse(selected.env[SELECT_VARIABLE]), ['t/a.py::x', 't/b.py::C::y[1-2]', 't/a.py::z']);
  assert.equal(selected.perTestArgs, false, 'its argv no longer ends with a word per test');
  assert.deepEqual(selected.tests, step.tests);
  assert.equal(step.env[SELECT_VARIABLE], undefined, 'the step itself is left as it was');
  const [one] = planRun([specs[0]], alloc(), OPTS).steps;
  assert.equal(selectByFiles(one), one);
  const [odd] = planRun(['t/a[1].py::x', 't/a[1].py::y'].map(id => spec(id, 'pytest', 1)), alloc(), OPTS).steps;
  assert.equal(selectByFiles(odd), odd);
  const [colons] = planRun(['t/a::b.py::x', 't/a::b.py::y'].map(id => spec(id, 'pytest', 1)), alloc(), OPTS).steps;
  assert.equal(selectByFiles(colons), colons);
  const [encoded] = planRun(['t/caf\udce9.py::x', 't/b.py::y'].map(id => spec(id, 'pytest', 1)), alloc(), OPTS).steps;
  assert.equal(selectByFiles(encoded), encoded);
});

// Remote allocations: host lists, Slurm jobs, PBS jobs.
const host = new LocalHost('login');

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
  // Steps side by side share the job's CPUs (--overlap): none binds its ranks to the same first cores.
  const packed = planRun([spec('t/b.py::m', 'pytest-mpi', 2)], slurm, { ...OPTS, concurrent: true });
  assert.deepEqual(packed.steps[0].argv.slice(0, 12), ['srun', '--jobid=5', '--overlap', '-N', '2', '-n', '2', '--label', '--kill-on-bad-exit=1', '--export=ALL', '--mpi=pmix', '--cpu-bind=none']);
  // A step on every task of the job has nothing beside it: srun binds as the site configured it.
  const whole = planRun([spec('t/b.py::m', 'pytest-mpi', 4)], slurm, { ...OPTS, concurrent: true });
  assert.ok(!whole.steps[0].argv.includes('--cpu-bind=none'), whole.steps[0].argv.join(' '));
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
