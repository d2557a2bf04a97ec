// A code-server instance with a throwaway profile: its own user-data dir, extensions dir and config
// file, so nothing is read from or written to ~/.config/code-server or ~/.local/share/code-server.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { codeServerBin } from './bootstrap.mjs';
import { spawnGroup } from './processes.mjs';

/** User settings that keep first-run prompts, notifications and network lookups out of the way. */
export const quietSettings = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  // Otherwise the loopback sockets of MPI ranks show up as forwarded ports.
  'remote.autoForwardPorts': false,
  // The DOM renderer keeps the Test Results output readable as text (and in screenshots).
  'terminal.integrated.gpuAcceleration': 'off',
};

/** The interpreter `python` starts (a pyenv shim or a link resolved) when it imports mpi4py, else null. */
function pythonWithMpi4py(python) {
  const res = spawnSync(python, ['-c', 'import mpi4py, sys; print(sys.executable)'], { encoding: 'utf8' });
  return res.status === 0 && res.stdout.trim().startsWith('/') ? res.stdout.trim() : null;
}

/**
 * `distest.pythonPath` for a session on the demo: the `python3` this command's PATH finds if it has
 * mpi4py, else Debian's /usr/bin/python3, always as an absolute path. VS Code's server gives the
 * extension host the environment of the user's login shell, not the one it was started with, so a bare
 * `python3` there may be another interpreter (pyenv's without mpi4py, here) whatever this PATH's order.
 */
export function pythonPathSetting() {
  const python = pythonWithMpi4py('python3') ?? pythonWithMpi4py('/usr/bin/python3');
  if (python) return { 'distest.pythonPath': python };
  console.warn('Neither `python3` on PATH nor /usr/bin/python3 imports mpi4py: tests will not run (see examples/README.md).');
  return {};
}

/** Creates (empty) `dir` with a profile: user-data dir holding `settings`, extensions dir, config file. */
export function createProfile(dir, settings) {
  fs.rmSync(dir, { recursive: true, force: true });
  const profile = {
    dir,
    userDataDir: path.join(dir, 'user-data'),
    extensionsDir: path.join(dir, 'extensions'),
    configFile: path.join(dir, 'config.yaml'),
    logFile: path.join(dir, 'code-server.log'),
  };
  fs.mkdirSync(path.join(profile.userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(profile.extensionsDir, { recursive: true });
  fs.writeFileSync(path.join(profile.userDataDir, 'User/settings.json'), JSON.stringify(settings, null, 2));
  fs.writeFileSync(profile.configFile, 'auth: none\n');
  return profile;
}

const profileArgs = profile => ['--config', profile.configFile, '--user-data-dir', profile.userDataDir, '--extensions-dir', profile.extensionsDir];

export function installExtension(profile, vsix) {
  execFileSync(codeServerBin, [...profileArgs(profile), '--install-extension', vsix], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Starts code-server on 127.0.0.1:`port` and resolves once /healthz answers. With auth 'password' the
 * password comes from $PASSWORD when set, else a generated one (returned as `password`). `exited`
 * resolves with code-server's exit code (or signal name) if it ends.
 */
export async function startCodeServer(profile, { port, folder, auth = 'none', env = {}, readyTimeoutMs = 60_000 }) {
  let password;
  if (auth === 'password' && !process.env.PASSWORD) {
    password = crypto.randomBytes(12).toString('base64url');
    fs.writeFileSync(profile.configFile, `auth: password\npassword: ${password}\n`, { mode: 0o600 });
  }
  const args = [...profileArgs(profile), '--bind-addr', `127.0.0.1:${port}`, '--auth', auth,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'];
  if (folder) args.push(folder);
  const log = fs.openSync(profile.logFile, 'w');
  const server = spawnGroup(codeServerBin, args, { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  fs.closeSync(log);
  let exitCode;
  const exited = new Promise(resolve => server.child.on('exit', (code, signal) => resolve((exitCode = code ?? signal))));

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`code-server exited (${exitCode}) before it was ready; its log:\n${tail(profile.logFile)}`);
    }
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`code-server did not answer on ${base} within ${readyTimeoutMs / 1000} s; its log:\n${tail(profile.logFile)}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
  const url = folder ? `${base}/?folder=${encodeURIComponent(folder)}` : `${base}/`;
  return { base, url, port, password, pgid: server.pgid, stop: server.stop, exited };
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
