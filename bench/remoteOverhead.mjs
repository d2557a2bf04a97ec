// remoteOverhead for bench:throughput: one 4-rank test on the test cluster (test/cluster/up.sh: two
// sshd + slurmd nodes in network namespaces, this machine as the login node), `distest run` against
// the bare launcher a user would type, interleaved:
// - hosts: `--allocation hosts:dt-node1:2,dt-node2:2` vs `mpirun --host dt-node1:2,dt-node2:2 -np 4 python -m pytest --with-mpi`;
// - slurm: `--allocation slurm:J` on a 2-node, 4-task job made for the bench vs `srun --jobid=J --overlap -n 4 --mpi=pmix python -m pytest --with-mpi`.
// distest's time is until its report (the summary line on stdout: the results the user sees; the
// end-of-run sweep of the nodes runs after it), its exit time is given beside it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterClientEnv, clusterScript } from '../test/e2e/cluster.mjs';

const NODES = ['dt-node1', 'dt-node2'];
const SUMMARY = /\d+ passed, \d+ failed, \d+ skipped, \d+ errored\n/;

/**
 * Brings the cluster up (and down again when it was not up before), measures both cases `runs` times,
 * and returns `{hosts, slurm}` ratios (distest's report time / bare launcher, medians) and the times.
 */
export async function remoteOverhead({ root, cli, python, runs }) {
  const wasUp = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes('dt-node1');
  clusterScript('up.sh');
  // The project must be where every node sees it: the nodes share the file system except /tmp.
  const dir = fs.mkdtempSync(path.join(root, '.cache', 'bench-remote-'));
  let jobId;
  try {
    fs.writeFileSync(path.join(dir, 'test_remote.py'), [
      'import pytest', 'from mpi4py import MPI', '', '',
      '@pytest.mark.mpi(min_size=4)', 'def test_four():', '    assert MPI.COMM_WORLD.allreduce(1) == MPI.COMM_WORLD.Get_size()', '',
    ].join('\n'));
    const env = { ...process.env, ...clusterClientEnv() };
    const granted = /Granted job allocation (\d+)/.exec(spawnSync('salloc', ['--no-shell', '-N', '2', '-n', '4', '-t', '15', '-J', 'bench-remote'], { encoding: 'utf8', env }).stderr ?? '');
    jobId = granted?.[1];
    const pytest = [python, '-m', 'pytest', '--with-mpi', '-q', '-p', 'no:cacheprovider', 'test_remote.py'];
    const hostList = NODES.map(n => `${n}:2`).join(',');
    const times = { hostsDistest: [], hostsDistestExit: [], hostsBare: [], slurmDistest: [], slurmDistestExit: [], slurmBare: [] };
    const pairs = [[async () => {
      const hosts = await distest(cli, ['--allocation', `hosts:${hostList}`, '--python', python, '--ranks', '4', 'test_remote.py'], dir, env);
      times.hostsDistest.push(hosts.reportMs);
      times.hostsDistestExit.push(hosts.exitMs);
    }, () => times.hostsBare.push(bare('mpirun', ['--host', hostList, '-np', '4', ...pytest], dir, env))]];
    if (jobId) {
      pairs.push([async () => {
        const slurm = await distest(cli, ['--allocation', `slurm:${jobId}`, '--python', python, '--ranks', '4', 'test_remote.py'], dir, env);
        times.slurmDistest.push(slurm.reportMs);
        times.slurmDistestExit.push(slurm.exitMs);
      }, () => times.slurmBare.push(bare('srun', [`--jobid=${jobId}`, '--overlap', '-n', '4', '--mpi=pmix', ...pytest], dir, env))]);
    }
    // A warm-up of every side (the project's discovery cache, .pyc files), then each pair's sides take turns to go first.
    for (const side of pairs.flat()) await side();
    for (const list of Object.values(times)) list.length = 0;
    for (let i = 0; i < runs; i++) for (const pair of pairs) for (const side of i % 2 ? [...pair].reverse() : pair) await side();
    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.length ? median(v) : null]));
    const ratio = (a, b) => (a === null || b === null ? null : Number((a / b).toFixed(3)));
    return {
      hosts: ratio(m.hostsDistest, m.hostsBare),
      slurm: ratio(m.slurmDistest, m.slurmBare),
      ...(jobId ? {} : { slurmProblem: 'salloc granted no job on the test cluster' }),
      ms: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v === null ? null : Math.round(v)])),
    };
  } finally {
    if (jobId) spawnSync('scancel', [jobId], { env: { ...process.env, ...clusterClientEnv() } });
    fs.rmSync(dir, { recursive: true, force: true });
    if (!wasUp) clusterScript('down.sh');
  }
}

/** `distest run ARGS`: when its summary reached stdout and when it exited; the test must pass. */
function distest(cli, args, cwd, env) {
  const started = performance.now();
  const child = spawn(cli, ['run', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let reportMs;
  child.stdout.on('data', b => {
    stdout += b;
    if (reportMs === undefined && SUMMARY.test(stdout)) reportMs = performance.now() - started;
  });
  child.stderr.on('data', b => (stderr += b));
  return new Promise((resolve, reject) => child.on('close', code => {
    const exitMs = performance.now() - started;
    if (code !== 0 || !/^1 passed/m.test(stdout)) reject(new Error(`distest run ${args.join(' ')}: exit ${code}\n${stdout.slice(-1000)}${stderr.slice(-2000)}`));
    else resolve({ reportMs: reportMs ?? exitMs, exitMs });
  }));
}

function bare(program, args, cwd, env) {
  const started = performance.now();
  const res = spawnSync(program, args, { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${res.status})\n${res.stdout.slice(-1000)}${res.stderr.slice(-1000)}`);
  return ms;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
