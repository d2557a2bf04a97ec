// Opens one authenticated ssh2 connection to a resolved host, hop by hop through ProxyJump (ssh2 has
// no ProxyJump: each next hop is a direct-tcpip channel of the previous client, used as the socket).
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { AnyAuthMethod, AuthenticationType, Client, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { appendKnownHost, checkHostKey, fingerprintSha256, knownHostName, keyTypeOf, knownKeyTypes, refusedHostKeyMessage } from './knownHosts';
import { resolveSshHost, type SshConfigSource, type SshHostConfig } from './config';

export interface UnknownHostInfo { host: string; port: number; keyType: string; fingerprintSha256: string }

export interface SecretRequest { kind: 'passphrase' | 'password'; host: string; keyFile?: string }
export interface SecretAnswer { value: string; remember: boolean }

/** Where remembered passphrases and passwords live (the editor: SecretStorage). Nothing else keeps them. */
export interface SecretStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface SshConnectOptions extends SshConfigSource {
  /** Replaces the known_hosts files named by the config (UserKnownHostsFile, default ~/.ssh/known_hosts). */
  knownHostsFile?: string;
  /** Asked for a host key that is not on record; without it an unknown host is refused. */
  confirmUnknownHost?(info: UnknownHostInfo): Promise<boolean>;
  /** Asked for a key passphrase or a password; undefined = the user cancelled. */
  askSecret?(request: SecretRequest): Promise<SecretAnswer | undefined>;
  secrets?: SecretStore;
  log?(line: string): void;
  /** Per hop handshake limit. */
  readyTimeoutMs?: number;
}

/** A refusal that retrying cannot fix (host key, authentication, bad config). */
export class SshRefusedError extends Error {}

export interface SshLink {
  client: Client;
  /** Jump host clients, outermost first; closed together with `client`. */
  hops: Client[];
  target: SshHostConfig;
  close(): void;
}

/** ssh2 (and the ciphers it sets up) loads at the first connection: a run on this machine never pays for it. */
function ssh2(): typeof import('ssh2') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ssh2') as typeof import('ssh2');
}

const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

export async function openSshLink(alias: string, opts: SshConnectOptions): Promise<SshLink> {
  const target = resolveSshHost(alias, opts);
  const route = [...target.proxyJump.map(hop => {
    const cfg = resolveSshHost(hop.host, opts);
    return { ...cfg, user: hop.user ?? cfg.user, port: hop.port ?? cfg.port, proxyJump: [] };
  }), target];
  const clients: Client[] = [];
  const closeAll = (): void => {
    for (const c of [...clients].reverse()) c.end();
  };
  try {
    let sock: Readable | undefined;
    for (let i = 0; i < route.length; i++) {
      const client = await connectHop(route[i], sock, opts);
      clients.push(client);
      const next = route[i + 1];
      if (next) sock = await forwardTo(client, next.hostName, next.port);
    }
  } catch (err) {
    closeAll();
    throw err;
  }
  const via = route.slice(0, -1).map(h => `${h.user}@${h.hostName}:${h.port}`);
  opts.log?.(`ssh ${alias}: connected to ${target.user}@${target.hostName}:${target.port}${via.length ? ` via ${via.join(' → ')}` : ''}`);
  return { client: clients[clients.length - 1], hops: clients.slice(0, -1), target, close: closeAll };
}

function forwardTo(client: Client, host: string, port: number): Promise<Readable> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (err, channel) => {
      if (err) reject(new Error(`jump host could not open a channel to ${host}:${port}: ${err.message}`));
      else resolve(channel);
    });
  });
}

function connectHop(hop: SshHostConfig, sock: Readable | undefined, opts: SshConnectOptions): Promise<Client> {
  const knownHostsFiles = opts.knownHostsFile ? [opts.knownHostsFile] : hop.userKnownHostsFiles;
  const known = knownKeyTypes(knownHostsFiles, hop.hostName, hop.port);
  const preferred = HOST_KEY_ALGORITHMS.filter(a => known.includes(a) || (known.includes('ssh-rsa') && a.startsWith('rsa-')));
  const hostKeyRefusal: { error?: Error } = {};
  const auth = new AuthSequence(hop, opts);
  const config: ConnectConfig = {
    host: sock ? undefined : hop.hostName,
    port: sock ? undefined : hop.port,
    sock,
    username: hop.user,
    readyTimeout: opts.readyTimeoutMs ?? 20000,
    keepaliveInterval: hop.serverAliveIntervalSec * 1000,
    keepaliveCountMax: hop.serverAliveCountMax,
    algorithms: { serverHostKey: [...preferred, ...HOST_KEY_ALGORITHMS.filter(a => !preferred.includes(a))] },
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      verifyHostKey(hop, knownHostsFiles, key, preferred.length > 0, opts).then(
        () => verify(true),
        (err: Error) => {
          hostKeyRefusal.error = err;
          verify(false);
        });
    },
    authHandler: (methodsLeft, _partial, next) => {
      // ssh2 takes `false` for "no more methods", which its typings leave out.
      const stop = false as unknown as AuthenticationType;
      auth.next(methodsLeft).then(method => next(method || stop), (err: Error) => {
        auth.failure = err;
        next(stop);
      });
    },
  };
  return new Promise((resolve, reject) => {
    const client = new (ssh2().Client)();
    client.once('ready', () => {
      // Many small request/reply exchanges: without this, Nagle + delayed ACKs add ~40 ms to each.
      if (!sock) client.setNoDelay(true);
      client.removeAllListeners('error');
      client.on('error', () => undefined); // later errors surface through 'close'
      auth.succeeded().then(() => resolve(client), () => resolve(client));
    });
    client.once('error', (err: Error & { level?: string }) => {
      client.end();
      if (hostKeyRefusal.error) return reject(hostKeyRefusal.error);
      if (auth.failure) return reject(auth.failure);
      if (err.level === 'client-authentication') {
        return reject(new SshRefusedError(`ssh ${hop.user}@${hop.hostName}:${hop.port}: authentication failed (tried ${auth.tried.join(', ') || 'nothing'})`));
      }
      reject(new Error(`ssh ${hop.user}@${hop.hostName}:${hop.port}: ${err.message}`));
    });
    client.connect(config);
  });
}

/** `askedForKnownTypes`: the handshake put the key types on record first, so another type is a change. */
async function verifyHostKey(hop: SshHostConfig, files: string[], key: Buffer, askedForKnownTypes: boolean, opts: SshConnectOptions): Promise<void> {
  const verdict = checkHostKey(files, hop.hostName, hop.port, key);
  if (verdict.status === 'known') return;
  // Keys of other types on record are a change only if the server was asked for those types (ssh2 can
  // negotiate them); else the key is merely new, as for a host not on record.
  if (verdict.status === 'changed' || verdict.status === 'revoked' || (verdict.status === 'otherType' && askedForKnownTypes)) {
    const message = refusedHostKeyMessage(hop.hostName, hop.port, key, verdict);
    opts.log?.(message);
    throw new SshRefusedError(message);
  }
  const info: UnknownHostInfo = { host: hop.hostName, port: hop.port, keyType: keyTypeOf(key), fingerprintSha256: fingerprintSha256(key) };
  const name = knownHostName(hop.hostName, hop.port);
  if (!opts.confirmUnknownHost) {
    throw new SshRefusedError(`the host key of ${name} (${info.keyType} ${info.fingerprintSha256}) is not in ${files.join(', ')}; connect once with ssh(1) to accept it`);
  }
  if (!(await opts.confirmUnknownHost(info))) {
    throw new SshRefusedError(`the host key of ${name} (${info.keyType} ${info.fingerprintSha256}) is not trusted: refused by the user`);
  }
  appendKnownHost(files[0], hop.hostName, hop.port, key, hop.hashKnownHosts);
  opts.log?.(`ssh: added ${name} (${info.keyType} ${info.fingerprintSha256}) to ${files[0]}`);
}

/** Agent, then each identity file (passphrase asked once, maybe remembered), then a password. */
class AuthSequence {
  failure?: Error;
  readonly tried: string[] = [];
  private readonly steps: Array<{ kind: AuthenticationType; make: () => Promise<AnyAuthMethod | undefined> }>;
  private pendingPassword?: { key: string; answer: SecretAnswer; fromStore: boolean };

  constructor(private readonly hop: SshHostConfig, private readonly opts: SshConnectOptions) {
    const username = hop.user;
    this.steps = [];
    if (hop.agentSocket && !hop.identitiesOnly) {
      const agent = hop.agentSocket;
      this.steps.push({ kind: 'publickey', make: async () => ({ type: 'agent', username, agent }) });
    }
    for (const file of hop.identityFiles) this.steps.push({ kind: 'publickey', make: () => this.keyMethod(file) });
    this.steps.push({ kind: 'password', make: () => this.passwordMethod() });
  }

  async next(methodsLeft: AuthenticationType[] | null): Promise<AnyAuthMethod | false> {
    if (this.pendingPassword?.fromStore) {
      // The remembered password was just refused: forget it so the next attempt asks again.
      await this.opts.secrets?.delete(this.pendingPassword.key);
    }
    this.pendingPassword = undefined;
    for (let step = this.steps.shift(); step; step = this.steps.shift()) {
      if (methodsLeft && !methodsLeft.includes(step.kind)) continue;
      const method = await step.make();
      if (!method) continue;
      this.tried.push(method.type === 'publickey' ? 'key' : method.type);
      return method;
    }
    return false;
  }

  /** Called once the server accepted us: a password that worked may now be remembered. */
  async succeeded(): Promise<void> {
    const pending = this.pendingPassword;
    if (pending && pending.answer.remember && !pending.fromStore) await this.opts.secrets?.set(pending.key, pending.answer.value);
  }

  private async keyMethod(file: string): Promise<AnyAuthMethod | undefined> {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (err) {
      this.opts.log?.(`ssh: cannot read identity file ${file}: ${(err as Error).message}`);
      return undefined;
    }
    const plain = ssh2().utils.parseKey(data);
    if (!(plain instanceof Error)) return { type: 'publickey', username: this.hop.user, key: plain };
    if (!/passphrase|encrypted/i.test(plain.message)) {
      this.opts.log?.(`ssh: cannot use identity file ${file}: ${plain.message}`);
      return undefined;
    }
    const storeKey = `passphrase:${file}`;
    const stored = await this.opts.secrets?.get(storeKey);
    if (stored !== undefined) {
      const parsed = ssh2().utils.parseKey(data, stored);
      if (!(parsed instanceof Error)) return { type: 'publickey', username: this.hop.user, key: parsed };
      await this.opts.secrets?.delete(storeKey);
    }
    if (!this.opts.askSecret) throw new SshRefusedError(`identity file ${file} is encrypted and there is no way to ask for its passphrase here; add it to ssh-agent`);
    const answer = await this.opts.askSecret({ kind: 'passphrase', host: this.hop.alias, keyFile: file });
    if (!answer) return undefined;
    const parsed = ssh2().utils.parseKey(data, answer.value);
    if (parsed instanceof Error) throw new SshRefusedError(`wrong passphrase for identity file ${file}`);
    if (answer.remember) await this.opts.secrets?.set(storeKey, answer.value);
    return { type: 'publickey', username: this.hop.user, key: parsed };
  }

  private async passwordMethod(): Promise<AnyAuthMethod | undefined> {
    const key = `password:${this.hop.user}@${this.hop.hostName}:${this.hop.port}`;
    const stored = await this.opts.secrets?.get(key);
    const answer = stored !== undefined ? { value: stored, remember: true }
      : await this.opts.askSecret?.({ kind: 'password', host: this.hop.alias });
    if (!answer) return undefined;
    this.pendingPassword = { key, answer, fromStore: stored !== undefined };
    return { type: 'password', username: this.hop.user, password: answer.value };
  }
}
