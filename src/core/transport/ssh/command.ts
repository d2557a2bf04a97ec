// The one place where a remote command line is assembled for ssh `exec`: every part goes through
// shellQuote, so paths and test names with `'"$;|&()` reach the remote program as the same bytes.
import { KILL_GRACE_MS } from '../local';
import { shellQuote } from '../quote';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface RemoteCommandOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * `printf distest-pgid:<pid> >&2; <watchdog> & cd -- <cwd> && exec env NAME=value... argv... </dev/null`
 * for the remote login shell. sshd makes every session's shell a session and process-group leader, so
 * the printed `$$` names the group (and session) a kill must reach; `exec` keeps that pid for the
 * command itself. The pid line is taken out of stderr by PidLineSplitter. The watchdog (below) gets the
 * channel's stdin; the command reads /dev/null (nothing is ever written to a command's stdin).
 */
export function remoteCommand(argv: string[], opts: RemoteCommandOptions = {}): string {
  if (argv.length === 0) throw new Error('cannot run an empty command');
  const envWords = Object.entries(opts.env ?? {}).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new Error(`not a valid environment variable name: ${JSON.stringify(name)}`);
    return `${name}=${value}`;
  });
  const program = envWords.length ? ['env', ...envWords, ...argv] : argv;
  const cd = opts.cwd === undefined ? '' : `cd -- ${shellQuote([opts.cwd])} && `;
  // fd 3 carries the channel past the /dev/null an asynchronous command gets as its stdin.
  const watchdog = `exec 3<&0; setsid sh -c ${shellQuote([WATCHDOG_SCRIPT])} sh "$$" ${graceTenths(KILL_GRACE_MS)} <&3 >/dev/null 2>&1 & `;
  return `printf '${PID_MARKER}%s\\n' "$$" >&2; ${watchdog}${cd}exec ${shellQuote(program)} </dev/null 3<&-`;
}

/**
 * Signals a remote process group and everything else in its session (OpenMPI moves ranks into groups
 * of their own, but not out of the session), then SIGKILLs what is left after the grace period.
 * Arguments: pgid, signal name without SIG, grace in tenths of a second.
 */
export const KILL_SESSION_SCRIPT = [
  'p=$1; s=$2; n=$3',
  // pkill -s: the whole session; kill(1) of the group is the fallback where procps is missing.
  'signal_all() { pkill -"$1" -s "$p" 2>/dev/null || kill -s "$1" -- "-$p" 2>/dev/null; }',
  'signal_all "$s"',
  'i=0; while [ "$i" -lt "$n" ]; do',
  // Zombies do not count: orphans wait for a reaper that may be slow (containers).
  '  ps -o stat= -s "$p" 2>/dev/null | grep -qv "^Z" || exit 0',
  '  sleep 0.1; i=$((i+1))',
  'done',
  'signal_all KILL; exit 0',
].join('\n');

export function killSessionArgv(pgid: number, signal: string, graceMs: number): string[] {
  const name = signal.replace(/^SIG/, '');
  if (!/^[A-Z0-9]+$/.test(name)) throw new Error(`not a signal name: ${signal}`);
  return ['sh', '-c', KILL_SESSION_SCRIPT, 'sh', String(pgid), name, graceTenths(graceMs)];
}

function graceTenths(ms: number): string {
  return String(Math.ceil(ms / 100));
}

/**
 * Ends a remote command whose ssh channel closed under it: distest killed outright (SIGKILL, a crashed
 * editor) or its connection lost. sshd sends no signal then (there is no terminal); the only trace is
 * EOF on the channel's stdin, which this script holds. It runs in a session of its own (setsid), so the
 * kill it does (KILL_SESSION_SCRIPT: TERM, then KILL after the grace) and the one distest does spare it.
 * A command that ended by itself was already reaped by sshd when the channel closed (sshd waits for it
 * before closing), so `kill -0` tells the two apart. Arguments: session id, grace in tenths of a second.
 */
const WATCHDOG_SCRIPT = [
  's=$1; n=$2',
  'while read -r _; do :; done',
  'kill -0 "$s" 2>/dev/null || exit 0',
  'set -- "$s" TERM "$n"',
  KILL_SESSION_SCRIPT,
].join('\n');

const PID_MARKER = 'distest-pgid:';

/**
 * Takes the wrapper's pid line out of the stderr stream (whatever a login script printed before it is
 * passed on). Feed chunks in order; returns the bytes that belong to the command's own stderr.
 */
export class PidLineSplitter {
  pid?: number;
  private head = Buffer.alloc(0);

  push(chunk: Buffer): Buffer | undefined {
    if (this.pid !== undefined) return chunk;
    this.head = Buffer.concat([this.head, chunk]);
    const at = this.head.indexOf(PID_MARKER);
    const newline = at < 0 ? -1 : this.head.indexOf(0x0a, at);
    if (newline < 0) return undefined;
    const pid = Number(this.head.subarray(at + PID_MARKER.length, newline).toString('latin1'));
    if (!Number.isInteger(pid) || pid <= 0) throw new Error('remote wrapper reported no pid');
    this.pid = pid;
    const rest = Buffer.concat([this.head.subarray(0, at), this.head.subarray(newline + 1)]);
    this.head = Buffer.alloc(0);
    return rest.length ? rest : undefined;
  }
}
