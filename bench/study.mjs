// Study benchmark: the marginal cost of one `distest repeat` iteration against one iteration of a bare
// launcher loop (`mpirun -np 2 python -m pytest --with-mpi ID` in a shell), same test, same run.
// The CLI's own start (discovery, allocation) is taken out: per iteration = (T(count N) − T(count 1)) / (N − 1).
// Last stdout line: {"iterations", "bareMsPerIteration", "repeatMsPerIteration", "ratio"}.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const project = path.join(root, 'test/fixtures/study-project');
const TEST = 'tests/test_scaling.py::test_kernel';
const N = Number(process.env.BENCH_ITERATIONS ?? 8);
const env = {
  ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
  STUDY_COUNTER: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-bench-')), 'launches'),
};
if (!fs.existsSync(path.join(root, 'dist/cli.js'))) throw new Error('dist/cli.js missing: run node scripts/build.mjs first');

function timed(argv) {
  const started = performance.now();
  const res = spawnSync(argv[0], argv.slice(1), { cwd: project, env, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${argv.join(' ')} exited ${res.status}: ${res.stderr.slice(-2000)}`);
  return performance.now() - started;
}

const bare = () => timed(['sh', '-c', `for i in $(seq ${N}); do mpirun -np 2 /usr/bin/python3 -m pytest -q -p no:cacheprovider --with-mpi ${TEST} >/dev/null || exit 1; done`]) / N;
const repeat = count => timed([process.execPath, path.join(root, 'dist/cli.js'), 'repeat', TEST, '--ranks', '2', '--count', String(count), '--json']);

const bareRuns = [];
const perIteration = [];
for (let round = 0; round < 2; round++) {
  bareRuns.push(bare());
  const one = repeat(1);
  const many = repeat(N);
  perIteration.push((many - one) / (N - 1));
  console.log(`round ${round + 1}: bare ${bareRuns.at(-1).toFixed(0)} ms/iteration, distest repeat ${perIteration.at(-1).toFixed(0)} ms/iteration (count 1: ${one.toFixed(0)} ms, count ${N}: ${many.toFixed(0)} ms)`);
}
const bareMs = Math.min(...bareRuns);
const repeatMs = Math.min(...perIteration);
console.log(JSON.stringify({ iterations: N, bareMsPerIteration: Math.round(bareMs), repeatMsPerIteration: Math.round(repeatMs), ratio: Number((repeatMs / bareMs).toFixed(3)) }));
