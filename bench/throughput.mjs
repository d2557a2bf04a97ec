// Throughput benchmark: whole `distest run` commands (CLI start, discovery, launches, results) against
// what a user would otherwise type, interleaved in one run on generated fixtures:
// - launcherSuiteRatio: 50 unittest files importing a shared TestCase module under the launcher template
//   `{mpiexec} -n {ranks} {python} {file}` (2 ranks), vs the suite's own runner in one launch
//   (`mpirun -n 2 python run_suite.py`, unittest discovery of the same files);
// - fastRatio: 200 fast 2-rank pytest-mpi tests in one file, vs one `mpirun -n 2 python -m pytest --with-mpi`;
// - mixedVsBound, mixedVsPytestParallelDynamic: 30 pytest_parallel tests at 2, 3 and 4 ranks (10 each, 0.5 s of
//   sleep each) on 4 local slots (`distest.local.slots: 4`; this machine may have fewer cores: both sides run 4
//   processes at most, oversubscribed alike), packed by distest (`distest.parallelLaunches: auto`, durations
//   recorded by a warm-up run), against the lower bound max(rank-seconds / slots, longest test) = 11.25 s and
//   against pytest_parallel's dynamic scheduler under `mpirun -np 4` (the real plugin, shared/third_party);
//   `--jobs 1` (one launch per count, one after another) is timed too.
// Also prints where distest's time goes: CLI start (`--help`), discovery (`list --json`), the run itself.
// - remoteOverhead {hosts, slurm}: one 4-rank test on the test cluster's host list / Slurm job vs bare
//   mpirun / srun (bench/remoteOverhead.mjs; brings the cluster up, needs root; BENCH_REMOTE=0 skips it).
// Last stdout line: {"launcherSuiteRatio", "fastRatio", "mixedVsBound", "mixedVsPytestParallelDynamic", "remoteOverhead",
// "profile": {...}} (ratios of medians).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { remoteOverhead } from './remoteOverhead.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// The command as npm installs it (dist/distest, a shell script starting node on dist/cli.js).
const CLI = path.join(root, 'dist/distest');
const PYTHON = '/usr/bin/python3';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SHORT_RUNS = Number(process.env.BENCH_SHORT_RUNS ?? 7);
const FILES = 50;
const FAST_TESTS = 200;
const MIXED = { counts: [2, 3, 4], perCount: 10, seconds: 0.5, slots: 4 };
const MIXED_BOUND_MS = Math.max(MIXED.counts.reduce((n, c) => n + c * MIXED.perCount * MIXED.seconds, 0) / MIXED.slots, MIXED.seconds) * 1000;
const PLUGIN = findPlugin();
if (!fs.existsSync(CLI)) throw new Error('dist/distest missing: run node scripts/build.mjs first');

const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-throughput-'));
try {
  const suite = launcherSuite(path.join(work, 'suite'));
  const fast = fastFile(path.join(work, 'fast'));
  const mpirun = which('mpirun');
  const mixed = mixedSuite(path.join(work, 'mixed'));
  const mixedEnv = { ...env, PYTHONPATH: PLUGIN };
  const mixedTests = MIXED.counts.length * MIXED.perCount;
  distestRun(mixed, mixedTests, [], mixedEnv); // warm-up: records the per-test durations the schedule orders by

  const times = { suiteDistest: [], suiteBare: [], fastDistest: [], fastBare: [], cliStart: [], suiteList: [], fastList: [], mixedDistest: [], mixedSequential: [], mixedDynamic: [] };
  for (let i = 0; i < RUNS; i++) {
    times.mixedDistest.push(distestRun(mixed, mixedTests, [], mixedEnv));
    times.mixedSequential.push(distestRun(mixed, mixedTests, ['--jobs', '1'], mixedEnv));
    times.mixedDynamic.push(timed(mpirun, ['-np', String(MIXED.slots), PYTHON, '-m', 'pytest', '-p', 'pytest_parallel.plugin', '--scheduler=dynamic', '-q', '-p', 'no:cacheprovider', 'test_mixed.py'], mixed, mixedEnv));
  }
  // The sub-second cases after the long ones, never right behind them on one side only: after a warm-up of
  // every side (discovery cache, .pyc files, page cache), each pair's two sides take turns to go first.
  const pairs = [
    [['suiteDistest', () => distestRun(suite, FILES * 2)], ['suiteBare', () => timed(mpirun, ['-n', '2', PYTHON, 'run_suite.py'], suite)]],
    [['fastDistest', () => distestRun(fast, FAST_TESTS)],
      ['fastBare', () => timed(mpirun, ['-n', '2', PYTHON, '-m', 'pytest', '--with-mpi', '-q', '-p', 'no:cacheprovider', 'test_fast.py'], fast)]],
  ];
  for (const [, run] of pairs.flat()) run();
  for (let i = 0; i < SHORT_RUNS; i++) {
    for (const pair of pairs) for (const [key, run] of i % 2 ? [...pair].reverse() : pair) times[key].push(run());
    times.cliStart.push(timed(CLI, ['--help'], work));
    times.suiteList.push(timed(CLI, ['list', suite, '--json'], work));
    times.fastList.push(timed(CLI, ['list', fast, '--json'], work));
  }
  const remote = process.env.BENCH_REMOTE === '0' ? null : await remoteOverhead({ root, cli: CLI, python: PYTHON, runs: SHORT_RUNS });
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const ratio = (a, b) => Number((a / b).toFixed(3));
  console.log(`launcher suite (${FILES} files, 2 ranks): distest ${m.suiteDistest.toFixed(0)} ms, one-launch runner ${m.suiteBare.toFixed(0)} ms (medians of ${SHORT_RUNS}; the mixed case's of ${RUNS})`);
  console.log(`fast tests (${FAST_TESTS} × 2 ranks, one file): distest ${m.fastDistest.toFixed(0)} ms, mpirun -n 2 pytest --with-mpi ${m.fastBare.toFixed(0)} ms`);
  console.log(`mixed (${mixedTests} tests at ${MIXED.counts.join(', ')} ranks, ${MIXED.seconds} s each, ${MIXED.slots} slots on ${os.cpus().length} cores): distest packed ${m.mixedDistest.toFixed(0)} ms, ` +
    `--jobs 1 ${m.mixedSequential.toFixed(0)} ms, pytest_parallel dynamic (mpirun -np ${MIXED.slots}) ${m.mixedDynamic.toFixed(0)} ms, lower bound ${MIXED_BOUND_MS.toFixed(0)} ms`);
  console.log(`distest CLI start ${m.cliStart.toFixed(0)} ms; discovery (list) suite ${m.suiteList.toFixed(0)} ms, fast ${m.fastList.toFixed(0)} ms`);
  if (remote) console.log(`one 4-rank test on the test cluster: hosts distest ${remote.ms.hostsDistest} ms (exit ${remote.ms.hostsDistestExit}), bare mpirun ${remote.ms.hostsBare} ms; slurm distest ${remote.ms.slurmDistest} ms (exit ${remote.ms.slurmDistestExit}), bare srun ${remote.ms.slurmBare} ms`);
  console.log(JSON.stringify({
    launcherSuiteRatio: ratio(m.suiteDistest, m.suiteBare),
    fastRatio: ratio(m.fastDistest, m.fastBare),
    mixedVsBound: ratio(m.mixedDistest, MIXED_BOUND_MS),
    mixedVsPytestParallelDynamic: ratio(m.mixedDistest, m.mixedDynamic),
    remoteOverhead: remote && { hosts: remote.hosts, slurm: remote.slurm, ...(remote.slurmProblem ? { slurmProblem: remote.slurmProblem } : {}) },
    profile: {
      mixedDistestMs: Math.round(m.mixedDistest), mixedSequentialMs: Math.round(m.mixedSequential), mixedDynamicMs: Math.round(m.mixedDynamic), mixedBoundMs: Math.round(MIXED_BOUND_MS),
      suiteDistestMs: Math.round(m.suiteDistest), suiteBareMs: Math.round(m.suiteBare), fastDistestMs: Math.round(m.fastDistest), fastBareMs: Math.round(m.fastBare),
      cliStartMs: Math.round(m.cliStart), suiteListMs: Math.round(m.suiteList), fastListMs: Math.round(m.fastList),
    },
  }));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

/** 50 unittest files, each a TestCase subclass of a shared module, runnable alone or by run_suite.py. */
function launcherSuite(dir) {
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.vscode/settings.json'), JSON.stringify({
    'distest.launchers': [{ glob: 'test_*.py', launcher: '{mpiexec} -n {ranks} {python} {file}', ranks: 2 }],
  }));
  fs.writeFileSync(path.join(dir, 'shared_case.py'), [
    'import unittest', 'from mpi4py import MPI', '',
    'class MpiCase(unittest.TestCase):',
    '    comm = MPI.COMM_WORLD', '',
    '    def test_world(self):',
    '        self.assertEqual(self.comm.allreduce(1), self.comm.Get_size())', '',
  ].join('\n'));
  for (let i = 0; i < FILES; i++) {
    const n = String(i).padStart(2, '0');
    fs.writeFileSync(path.join(dir, `test_${n}.py`), [
      'import unittest', 'import shared_case', '',
      `class TestCase${n}(shared_case.MpiCase):`,
      '    def test_sum(self):',
      `        self.assertEqual(self.comm.allreduce(${i}), ${i} * self.comm.Get_size())`, '',
      'if __name__ == "__main__":', '    unittest.main()', '',
    ].join('\n'));
  }
  fs.writeFileSync(path.join(dir, 'run_suite.py'), [
    'import sys, unittest', '',
    'suite = unittest.TestLoader().discover(".", pattern="test_*.py")',
    'result = unittest.TextTestRunner(verbosity=1).run(suite)',
    'sys.exit(0 if result.wasSuccessful() else 1)', '',
  ].join('\n'));
  return dir;
}

/** pytest_parallel tests of each count in MIXED, each sleeping MIXED.seconds; distest gets MIXED.slots local slots. */
function mixedSuite(dir) {
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.vscode/settings.json'), JSON.stringify({ 'distest.local.slots': MIXED.slots }));
  const tests = MIXED.counts.flatMap(n => Array.from({ length: MIXED.perCount }, (_, i) =>
    `@pytest_parallel.mark.parallel(${n})\ndef test_r${n}_${i}(comm):\n    time.sleep(${MIXED.seconds})\n    assert comm.size == ${n}\n`));
  fs.writeFileSync(path.join(dir, 'test_mixed.py'), `import time\nimport pytest_parallel\n\n\n${tests.join('\n\n')}`);
  return dir;
}

/** The real pytest_parallel plugin's folder: shared/third_party/pytest_parallel beside the repository or a folder above it. */
function findPlugin() {
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'third_party', 'pytest_parallel');
    if (fs.existsSync(path.join(candidate, 'pytest_parallel', 'plugin.py'))) return candidate;
    if (dir === path.dirname(dir)) throw new Error('the pytest_parallel plugin is not in shared/third_party beside the repository');
  }
}

function fastFile(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const tests = Array.from({ length: FAST_TESTS }, (_, i) =>
    `@pytest.mark.mpi(min_size=2)\ndef test_fast_${i}():\n    assert MPI.COMM_WORLD.allreduce(1) == MPI.COMM_WORLD.Get_size()\n`);
  fs.writeFileSync(path.join(dir, 'test_fast.py'), `import pytest\nfrom mpi4py import MPI\n\n\n${tests.join('\n\n')}`);
  return dir;
}

/** `distest run` on the whole folder; every one of `expected` tests must pass. */
function distestRun(dir, expected, args = [], runEnv = env) {
  const started = performance.now();
  const res = spawnSync(CLI, ['run', dir, '--json', '--python', PYTHON, ...args], { cwd: dir, env: runEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - started;
  let tests = [];
  try {
    tests = JSON.parse(res.stdout).tests;
  } catch {
    throw new Error(`distest run ${dir}: no JSON (exit ${res.status})\n${res.stderr.slice(-2000)}`);
  }
  const passed = tests.filter(t => t.state === 'passed').length;
  if (passed !== expected) throw new Error(`distest run ${dir}: ${passed} of ${expected} passed\n${JSON.stringify(tests.filter(t => t.state !== 'passed').slice(0, 3))}\n${res.stderr.slice(-2000)}`);
  return ms;
}

function timed(program, args, cwd, runEnv = env) {
  const started = performance.now();
  const res = spawnSync(program, args, { cwd, env: runEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${res.status})\n${res.stdout.slice(-1000)}${res.stderr.slice(-1000)}`);
  return ms;
}

function which(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error(`${name} not found on PATH`);
  return found;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
