// A real OpenSSH sshd on a loopback address for tests and benchmarks: generated host key, an
// authorized client key, its own config/log/pid files in a temp dir. Nothing listens beyond loopback.
// As root, sshd runs in a private mount namespace where ~/.bashrc is replaced by an empty file, so a
// slow interactive rc (pyenv init) does not add seconds to every remote command (the test cluster
// does the same for its nodes).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { descendants } from '../../src/core/transport/local';

export const SSHD = '/usr/sbin/sshd';

export interface SshdOptions {
  /** Loopback address to listen on (127.0.0.0/8). */
  address?: string;
  /** Private key whose public half (`<file>.pub`) may log in; generated when absent. */
  clientKeyFile?: string;
  logLevel?: 'INFO' | 'VERBOSE' | 'DEBUG1';
  /** Parent of the sshd's own temp dir. */
  tmpRoot?: string;
  /** Host key types (ssh-keygen -t), offered in this order; default ed25519 only. */
  hostKeyTypes?: string[];
}

export interface LoopbackSshd {
  address: string;
  port: number;
  dir: string;
  pid: number;
  clientKeyFile: string;
  logFile: string;
  /** `[address]:port <type> <base64>`: the line a known_hosts file needs to trust this sshd (its first host key). */
  knownHostsLine: string;
  /** The same line for its host key of another type (`ecdsa`). */
  knownHostsLineOf(keyType: string): string;
  /** An ssh_config Host block for `alias` pointing here (this user, the client key, IdentitiesOnly). */
  configBlock(alias: string, extra?: string[]): string;
  log(): string;
  /** Kills the per-connection sshd processes (drops every client connection), keeps listening. */
  dropConnections(): number;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return fs.existsSync(SSHD) && spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;
}

export function generateKey(file: string, passphrase = '', type = 'ed25519'): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', 'distest-test', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

async function freePort(address: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise(resolve => server.close(resolve));
  return port;
}

function bannerSeen(address: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, address);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('data', b => done(b.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => done(false));
  });
}

export async function startSshd(opts: SshdOptions = {}): Promise<LoopbackSshd> {
  const address = opts.address ?? '127.0.0.2';
  const dir = fs.mkdtempSync(path.join(opts.tmpRoot ?? os.tmpdir(), 'distest-sshd-'));
  const hostKeys = (opts.hostKeyTypes ?? ['ed25519']).map(type => {
    const file = path.join(dir, `host_${type}`);
    generateKey(file, '', type);
    return file;
  });
  const clientKeyFile = opts.clientKeyFile ?? path.join(dir, 'client_ed25519');
  if (!opts.clientKeyFile) generateKey(clientKeyFile);
  fs.copyFileSync(`${clientKeyFile}.pub`, path.join(dir, 'authorized_keys'));
  const port = await freePort(address);
  const logFile = path.join(dir, 'sshd.log');
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(configFile, [
    `ListenAddress ${address}:${port}`,
    ...hostKeys.map(file => `HostKey ${file}`),
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'StrictModes no', 'UsePAM no', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'AllowTcpForwarding yes', 'MaxStartups 100', 'MaxSessions 10',
    'Subsystem sftp internal-sftp', `LogLevel ${opts.logLevel ?? 'DEBUG1'}`, '',
  ].join('\n'));
  try {
    // sshd's privilege separation directory; only root can (and needs to) create it.
    fs.mkdirSync('/run/sshd', { recursive: true });
  } catch {
    // Not root: sshd runs unprivileged and logs in only as this user.
  }
  const sshdArgv = [SSHD, '-D', '-f', configFile, '-E', logFile];
  const bashrc = path.join(os.homedir(), '.bashrc');
  let child: ChildProcess;
  if (process.getuid?.() === 0 && fs.existsSync(bashrc)) {
    const emptyRc = path.join(dir, 'bashrc');
    fs.writeFileSync(emptyRc, '');
    child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', emptyRc, bashrc, ...sshdArgv], { stdio: 'ignore', detached: true });
  } else {
    child = spawn(sshdArgv[0], sshdArgv.slice(1), { stdio: 'ignore', detached: true });
  }
  const pid = child.pid as number;
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 10000;
  while (!(await bannerSeen(address, port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      throw new Error(`sshd on ${address}:${port} did not start${exited ? ' (it exited)' : ''}:\n${log}`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  const knownHostsLineOf = (keyType: string): string => {
    const [type, key] = fs.readFileSync(path.join(dir, `host_${keyType}.pub`), 'utf8').trim().split(/\s+/);
    return `[${address}]:${port} ${type} ${key}`;
  };
  const killSessions = (): number => {
    const sessions = descendants(pid);
    for (const p of sessions) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    return sessions.length;
  };
  // A test run that dies without calling stop() must not leave a listening sshd behind.
  const killOnExit = (): void => {
    killSessions();
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  return {
    address,
    port,
    dir,
    pid,
    clientKeyFile,
    logFile,
    knownHostsLine: knownHostsLineOf(opts.hostKeyTypes?.[0] ?? 'ed25519'),
    knownHostsLineOf,
    configBlock: (alias, extra = []) => [
      `Host ${alias}`, `  HostName ${address}`, `  Port ${port}`, `  User ${os.userInfo().username}`, `  IdentityFile ${clientKeyFile}`,
      '  IdentitiesOnly yes', ...extra.map(l => `  ${l}`), '',
    ].join('\n'),
    log: () => fs.readFileSync(logFile, 'utf8'),
    dropConnections: killSessions,
    async stop() {
      process.off('exit', killOnExit);
      killSessions();
      if (!exited) {
        child.kill('SIGTERM');
        const until = Date.now() + 5000;
        while (!exited && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50));
        if (!exited) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
