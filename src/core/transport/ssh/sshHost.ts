// A Host reached over ssh: ONE multiplexed ssh2 connection per host carries every command, stream, file
// transfer and port forward. A dropped connection fails what was running on it with a clear error and
// is reopened (with backoff) by the next use.
import net from 'node:net';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { collectOutput, lookUpCommand, type ExecResult, type ExitStatus, type Host, type PortForward, type RunningProcess, type StreamOptions } from '../host';
import { KILL_GRACE_MS } from '../local';
import { openSshLink, SshRefusedError, type SshConnectOptions, type SshLink } from './connect';
import { killSessionArgv, PidLineSplitter, remoteCommand } from './command';

export interface SshHostOptions extends SshConnectOptions {
  /** The server's MaxSessions (OpenSSH default 10); two are kept back for kills and SFTP. */
  maxSessions?: number;
  /** Waits before each reconnect attempt; the first connect is attempt 0. */
  reconnectDelaysMs?: number[];
}

const DEFAULT_RECONNECT_DELAYS_MS = [0, 500, 1500, 3000];
const CHANNEL_OPEN_ATTEMPTS = 30;

interface Connection { link: SshLink; lost: Promise<Error>; sftp?: Promise<SFTPWrapper> }
interface OpenedChannel { channel: ClientChannel; lost: Promise<Error>; release: () => void }

export class SshHost implements Host {
  readonly name: string;
  private live?: Promise<Connection>;
  private readonly sessions: Semaphore;
  /** One channel kept back for kills, so a host busy with long streams can still stop them (and one for SFTP). */
  private readonly control = new Semaphore(1);
  private disposed = false;
  /**
   * A refusal (host key not trusted, login refused) ends every later use at once with the same reason:
   * retrying cannot fix it, and it would ask the user the same question again.
   */
  private refusal?: SshRefusedError;

  constructor(readonly alias: string, private readonly opts: SshHostOptions = {}) {
    this.name = alias;
    this.sessions = new Semaphore(Math.max(1, (opts.maxSessions ?? 10) - 2));
  }

  stream(argv: string[], opts: StreamOptions = {}): RunningProcess {
    return this.start(remoteCommand(argv, opts), this.sessions);
  }

  /** Runs a short command on the channel held back for control (kills); never killed itself. */
  execControl(argv: string[]): Promise<ExecResult> {
    return collectOutput(this.start(remoteCommand(argv), this.control));
  }

  private start(command: string, slots: Semaphore): SshProcess {
    return new SshProcess(this.name, () => this.openExec(command, slots), argv => this.execControl(argv));
  }

  exec(argv: string[], opts: StreamOptions & { timeoutMs?: number } = {}): Promise<ExecResult> {
    return collectOutput(this.stream(argv, opts), opts.timeoutMs);
  }

  which(cmd: string): Promise<string | null> {
    return lookUpCommand(this, cmd);
  }

  async cpuCount(): Promise<number> {
    const r = await this.exec(['sh', '-c', 'nproc 2>/dev/null || getconf _NPROCESSORS_ONLN']);
    const n = Number(r.stdout.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`${this.name}: cannot count CPUs: ${r.stderr.trim() || r.stdout.trim()}`);
    return n;
  }

  async readFile(file: string): Promise<Buffer> {
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => sftp.readFile(file, (err, data) => (err ? reject(sftpError(this.name, 'read', file, err)) : resolve(data))));
  }

  async writeFile(file: string, data: Buffer | string): Promise<void> {
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => sftp.writeFile(file, data, err => (err ? reject(sftpError(this.name, 'write', file, err)) : resolve())));
  }

  /** The connection's SFTP session (opened once, reused until the connection drops). */
  async sftp(): Promise<SFTPWrapper> {
    const conn = await this.connection();
    conn.sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      conn.link.client.sftp((err, sftp) => (err ? reject(new Error(`${this.name}: cannot start sftp: ${err.message}`)) : resolve(sftp)));
    });
    conn.sftp.catch(() => (conn.sftp = undefined));
    return conn.sftp;
  }

  async forwardPort(remotePort: number): Promise<PortForward> {
    const server = net.createServer(socket => {
      this.connection().then(conn => conn.link.client.forwardOut('127.0.0.1', 0, '127.0.0.1', remotePort, (err, channel) => {
        if (err) {
          this.opts.log?.(`ssh ${this.name}: forward to remote port ${remotePort} failed: ${err.message}`);
          socket.destroy();
          return;
        }
        socket.pipe(channel).pipe(socket);
        socket.on('error', () => channel.close());
        channel.on('error', () => socket.destroy());
      }), () => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const localPort = (server.address() as net.AddressInfo).port;
    return { localPort, close: () => new Promise(resolve => server.close(() => resolve())) };
  }

  /** Closes the connection; later calls fail. */
  dispose(): void {
    this.disposed = true;
    void this.live?.then(c => c.link.close(), () => undefined);
    this.live = undefined;
  }

  /** Opens the connection now (commands do it on first use): refusals and unreachable hosts surface here. */
  async connect(): Promise<void> {
    await this.connection();
  }

  /** After a refusal, the next use tries (and asks) again: a new run in a long-lived editor session. */
  forgetRefusal(): void {
    this.refusal = undefined;
  }

  /** The live connection, opened (or reopened after a drop) on first use. */
  private connection(): Promise<Connection> {
    if (this.disposed) return Promise.reject(new Error(`ssh ${this.name}: host was disposed`));
    if (this.refusal) return Promise.reject(this.refusal);
    if (!this.live) {
      const opening = this.openWithBackoff();
      this.live = opening;
      const forget = (): void => {
        if (this.live === opening) this.live = undefined;
      };
      opening.then(conn => conn.lost.then(forget), forget);
    }
    return this.live;
  }

  /** Opens a session channel (one of `slots`, which keep us under MaxSessions) for one remote command. */
  private async openExec(command: string, slots: Semaphore): Promise<OpenedChannel> {
    const release = await slots.acquire();
    try {
      const conn = await this.connection();
      // sshd frees a closed session a moment after confirming the close, so an open right after one
      // can be refused for MaxSessions: retry that (only that) briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          const channel = await new Promise<ClientChannel>((resolve, reject) => {
            conn.link.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
          });
          return { channel, lost: conn.lost, release };
        } catch (err) {
          if (!/open failed/i.test((err as Error).message) || attempt >= CHANNEL_OPEN_ATTEMPTS) {
            throw new Error(`ssh ${this.name}: cannot start a command: ${(err as Error).message}`);
          }
          await sleep(100);
        }
      }
    } catch (err) {
      release();
      throw err;
    }
  }

  private async openWithBackoff(): Promise<Connection> {
    const delays = this.opts.reconnectDelaysMs ?? DEFAULT_RECONNECT_DELAYS_MS;
    let lastError: Error = new Error('no connection attempt was made');
    for (const delay of delays) {
      if (delay) await sleep(delay);
      try {
        const link = await openSshLink(this.alias, this.opts);
        const lost = new Promise<Error>(resolve => {
          const onClose = (): void => resolve(new Error(`ssh connection to ${this.name} was lost`));
          link.client.once('close', onClose);
          for (const hop of link.hops) hop.once('close', onClose);
        });
        lost.then(err => this.opts.log?.(err.message), () => undefined);
        return { link, lost };
      } catch (err) {
        lastError = err as Error;
        if (lastError instanceof SshRefusedError) throw (this.refusal = lastError);
        this.opts.log?.(`ssh ${this.name}: connect failed: ${lastError.message}`);
      }
    }
    throw lastError;
  }
}

class SshProcess implements RunningProcess {
  readonly exited: Promise<ExitStatus>;
  private readonly stdoutListeners: Array<(b: Buffer) => void> = [];
  private readonly stderrListeners: Array<(b: Buffer) => void> = [];
  private readonly pidLine = new PidLineSplitter();
  private readonly started: Promise<ClientChannel | undefined>;
  private killing?: Promise<void>;

  constructor(hostName: string, open: () => Promise<OpenedChannel>, private readonly runControl: (argv: string[]) => Promise<ExecResult>) {
    let settle!: (status: ExitStatus) => void;
    this.exited = new Promise(resolve => (settle = resolve));
    this.started = open().then(({ channel, lost, release }) => {
      let status: ExitStatus | undefined;
      channel.on('data', (b: Buffer) => this.stdoutListeners.forEach(cb => cb(b)));
      channel.stderr.on('data', (b: Buffer) => this.emitStderr(b));
      channel.on('exit', (code: number | null, signal?: string) => {
        status = { code: signal ? null : code, signal: signal ? (signal.startsWith('SIG') ? signal : `SIG${signal}`) : null };
      });
      let connectionLost = false;
      void lost.then(() => (connectionLost = true));
      channel.on('close', () => {
        release();
        // 'close' may come in the same tick as the connection's; let the lost flag settle first.
        setImmediate(() => settle(status ?? {
          code: null,
          signal: null,
          error: connectionLost ? `ssh connection to ${hostName} was lost while the command ran` : `ssh ${hostName}: the command ended without an exit status`,
        }));
      });
      return channel;
    }, (err: Error) => {
      settle({ code: null, signal: null, error: err.message });
      return undefined;
    });
  }

  /** The remote process group leader, once the wrapper has reported it. */
  get pid(): number | undefined {
    return this.pidLine.pid;
  }

  onStdout(cb: (b: Buffer) => void): void {
    this.stdoutListeners.push(cb);
  }

  onStderr(cb: (b: Buffer) => void): void {
    this.stderrListeners.push(cb);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.killing ??= this.killRemote(signal);
    return this.killing;
  }

  private emitStderr(chunk: Buffer): void {
    const own = this.pidLine.push(chunk);
    if (own) this.stderrListeners.forEach(cb => cb(own));
  }

  private async killRemote(signal: NodeJS.Signals): Promise<void> {
    const channel = await this.started;
    if (!channel) return;
    // The pid line is the wrapper's first output; wait briefly for it if the command has only just started.
    for (let waited = 0; this.pidLine.pid === undefined && waited < 5000; waited += 50) {
      if (await Promise.race([this.exited.then(() => true), sleep(50).then(() => false)])) return;
    }
    const pgid = this.pidLine.pid;
    if (pgid !== undefined) {
      // Closing the channel alone does not stop the command under OpenSSH, and signal requests are
      // ignored by it: a second command signals the whole session and waits for it to go.
      const killer = await Promise.race([this.runControl(killSessionArgv(pgid, signal, KILL_GRACE_MS)), sleep(KILL_GRACE_MS + 10000)]);
      if (killer && killer.code !== 0) this.emitStderr(Buffer.from(`distest: could not stop remote process group ${pgid}: ${killer.stderr}`));
    }
    channel.close();
    await Promise.race([this.exited, sleep(KILL_GRACE_MS)]);
  }
}

class Semaphore {
  private waiting: Array<() => void> = [];

  constructor(private free: number) {}

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>(resolve => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

function sftpError(host: string, verb: string, file: string, err: Error & { code?: number }): Error {
  const reason = err.code === 2 ? 'no such file' : err.code === 3 ? 'permission denied' : err.message;
  return new Error(`ssh ${host}: cannot ${verb} ${file}: ${reason}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
