// The real test cluster (test/cluster/up.sh: Slurm + sshd nodes in network namespaces) for the UI
// suite: up, a Slurm job made outside distest (the picker must list it, and distest must never cancel
// it), and the client environment code-server's extension host needs to reach it.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../scripts/lib/bootstrap.mjs';

const CLUSTER = path.join(repoRoot, 'test/cluster');

/** Runs test/cluster/NAME; a failure shows the script's last lines. */
export function clusterScript(name) {
  const res = spawnSync('bash', [path.join(CLUSTER, name)], { encoding: 'utf8', timeout: 300_000 });
  if (res.status !== 0) {
    const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`test/cluster/${name} failed (${res.error?.message ?? `exit ${res.status}`}); it needs root and network namespaces:\n${tail}`);
  }
}

/** The client environment of the cluster's login node (SLURM_CONF, OpenMPI's ssh and interfaces). */
export function clusterClientEnv() {
  const env = {};
  const dump = execFileSync('bash', ['-c', 'source "$1" && env -0', 'env', path.join(repoRoot, '.cache/cluster/env.sh')], { encoding: 'utf8' });
  for (const entry of dump.split('\0')) {
    const eq = entry.indexOf('=');
    if (/^(SLURM_CONF|OMPI_)/.test(entry.slice(0, eq))) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

export function startTestCluster() {
  clusterScript('up.sh');
  const env = clusterClientEnv();
  const slurm = (argv) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const granted = /Granted job allocation (\d+)/.exec(
    spawnSync('salloc', ['--no-shell', '-N', '2', '-n', '4', '-t', '15', '-J', 'e2e-outside'], { encoding: 'utf8', env: { ...process.env, ...env } }).stderr ?? '');
  if (!granted) {
    clusterScript('down.sh');
    throw new Error('salloc on the test cluster granted no allocation');
  }
  const jobId = granted[1];
  return {
    env,
    jobId,
    /** The job's steps so far (sacct), e.g. ["12.0"]. */
    steps: () => slurm(['sacct', '-j', jobId, '-n', '-P', '-o', 'JobID'])
      .split('\n').map(l => l.trim()).filter(l => /^\d+\.\d+$/.test(l)),
    stop() {
      spawnSync('scancel', [jobId], { env: { ...process.env, ...env } });
      clusterScript('down.sh');
    },
  };
}
