// The one seam between "what to run" and "where it runs". Everything above it (launch plans, the run
// engine, the CLI) must work unchanged on a laptop and over ssh, so it speaks argv arrays only.

export interface ExecResult { code: number | null; signal: string | null; stdout: string; stderr: string }

export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (e.g. ENOENT), in words a user can act on. */
  error?: string;
}

export interface RunningProcess {
  pid?: number;
  onStdout(cb: (b: Buffer) => void): void;
  onStderr(cb: (b: Buffer) => void): void;
  /** Resolves (never rejects) when the launched process exits or fails to start. */
  exited: Promise<ExitStatus>;
  /**
   * Signals the whole process tree (SIGTERM by default), then SIGKILLs whatever is still alive after a
   * grace period. Resolves once nothing of the tree is left; callers may ignore the promise.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface StreamOptions {
  cwd?: string;
  /** Merged over the host's own environment. */
  env?: Record<string, string>;
}

/** A remote TCP port made reachable on this machine (loopback only) until `close()`. */
export interface PortForward {
  localPort: number;
  close(): Promise<void>;
}

export interface Host {
  readonly name: string;
  exec(argv: string[], opts?: StreamOptions & { timeoutMs?: number }): Promise<ExecResult>;
  stream(argv: string[], opts?: StreamOptions): RunningProcess;
  /** Absolute path of an executable (a bare name is looked up on PATH), or null. */
  which(cmd: string): Promise<string | null>;
  cpuCount(): Promise<number>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer | string): Promise<void>;
  /** Hosts whose ports are not already reachable from here (ssh) forward one to a local port. */
  forwardPort?(remotePort: number): Promise<PortForward>;
  /**
   * Hosts reached over a connection open it now and reject with its refusal or failure (a host key the
   * user did not trust), which commands would only report as output of a command that never ran.
   */
  connect?(): Promise<void>;
  /** The machine's name as `uname -n` prints it, where this process can tell without starting a program. */
  nodeName?(): string;
}

/** A process a sweep killed, with its command line. */
export interface KilledProcess { pid: number; command: string }

/**
 * What running short commands on a machine takes. Every Host is one; so is a node reached through
 * another host (relay.ts), which has no streams, files or ports of its own.
 */
export interface CommandRunner {
  readonly name: string;
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  which(cmd: string): Promise<string | null>;
  /**
   * Kills every process here whose environment holds `entry` (NAME=value) and says which, without
   * starting a program to do it; only where this process can read the machine's /proc itself.
   */
  killCarrying?(entry: string): Promise<KilledProcess[]>;
}

/** `command -v` run on the machine itself: the absolute path of `cmd` there, or null. */
export async function lookUpCommand(runner: Pick<CommandRunner, 'exec'>, cmd: string): Promise<string | null> {
  const r = await runner.exec(['sh', '-c', 'command -v -- "$1"', 'sh', cmd]);
  const found = r.stdout.trim();
  return r.code === 0 && found.startsWith('/') ? found : null;
}

/** Runs a started process to its end and gathers its output (the `exec` of every Host). */
export async function collectOutput(proc: RunningProcess, timeoutMs?: number): Promise<ExecResult> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  proc.onStdout(b => stdout.push(b));
  proc.onStderr(b => stderr.push(b));
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => void proc.kill(), timeoutMs);
  const status = await proc.exited;
  clearTimeout(timer);
  const err = Buffer.concat(stderr).toString('utf8');
  return {
    code: status.code,
    signal: status.signal,
    stdout: Buffer.concat(stdout).toString('utf8'),
    stderr: status.error ? `${err}${status.error}\n` : err,
  };
}
