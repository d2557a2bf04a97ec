// What a fresh clone needs before `npm start` or `npm test` can run: npm dependencies, Debian packages,
// the code-server cache and a Chromium. Each ensure* call is synchronous, does only what is missing, and
// returns false (after printing the exact command to run) when it cannot do it itself.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** Debian packages the demo and the test suites use: real MPI + pytest, and code-server's build needs. */
export const TEST_APT_PACKAGES = ['openmpi-bin', 'python3-mpi4py', 'python3-pytest', 'python3-pytest-mpi', 'python3-debugpy', 'libkrb5-dev', 'ripgrep', 'gdb', 'python3-dbg',
  // test/cluster (Slurm test cluster with accounting; keep in step with PKGS in test/cluster/lib.sh)
  // libpmix-dev: Slurm's mpi/pmix plugin dlopens the unversioned libpmix.so only that package provides.
  'openssh-server', 'openssh-client', 'slurmctld', 'slurmd', 'slurm-client', 'libpmix-dev', 'munge', 'slurmdbd', 'mariadb-server', 'iproute2', 'procps', 'util-linux'];

export const codeServerPrefix = path.join(repoRoot, '.cache/code-server');
export const codeServerBin = path.join(codeServerPrefix, 'node_modules/.bin/code-server');
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const isRoot = () => process.getuid?.() === 0;
const isDebian = () => fs.existsSync('/etc/debian_version') && fs.existsSync('/usr/bin/dpkg-query');

function runVisible(cmd, args, options = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return spawnSync(cmd, args, { stdio: 'inherit', ...options }).status === 0;
}

/** Installs node_modules from the lockfile when it is missing. */
export function ensureNpmDeps() {
  if (fs.existsSync(path.join(repoRoot, 'node_modules/.package-lock.json'))) return true;
  const hasLock = fs.existsSync(path.join(repoRoot, 'package-lock.json'));
  return runVisible('npm', [hasLock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: repoRoot });
}

export function missingAptPackages(packages) {
  return packages.filter(p => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return !(r.status === 0 && r.stdout.includes('install ok installed'));
  });
}

/**
 * Installs the missing ones of `packages` when running as root on Debian; otherwise prints the exact
 * command and returns false.
 */
export function ensureAptPackages(packages) {
  if (!isDebian()) {
    console.warn(`Not a Debian system: install the equivalents of these packages yourself: ${packages.join(' ')}`);
    return false;
  }
  const missing = missingAptPackages(packages);
  if (missing.length === 0) return true;
  const install = ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', ...missing];
  if (!isRoot()) {
    console.warn(`Missing Debian packages; run:\n  sudo apt-get ${install.join(' ')}`);
    return false;
  }
  const listsPresent = fs.readdirSync('/var/lib/apt/lists').some(f => f.endsWith('_Packages'));
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!listsPresent && !runVisible('apt-get', ['update'], { env })) return false;
  return runVisible('apt-get', install, { env });
}

/** True when install-code-server.sh finished (it writes its stamp last). */
export function codeServerInstalled() {
  return fs.existsSync(codeServerBin) && fs.existsSync(path.join(codeServerPrefix, '.install-stamp'));
}

/** Builds the code-server cache (about a minute, once per clone) unless it is complete. */
export function ensureCodeServer() {
  return runVisible('bash', [path.join(repoRoot, 'scripts/install-code-server.sh'), codeServerPrefix]);
}

export function ensureChromium() {
  if (fs.existsSync(chromiumPath)) return true;
  if (process.env.CHROMIUM_PATH) {
    console.warn(`CHROMIUM_PATH=${chromiumPath} does not exist.`);
    return false;
  }
  return ensureAptPackages(['chromium']) && fs.existsSync(chromiumPath);
}
