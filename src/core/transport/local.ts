import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { collectOutput, type ExecResult, type ExitStatus, type Host, type KilledProcess, type RunningProcess, type StreamOptions } from './host';

/** How long a process tree gets to honour SIGTERM before everything left of it is SIGKILLed. */
export const KILL_GRACE_MS = 3000;

export class LocalHost implements Host {
  readonly name: string;

  constructor(name = 'local') {
    this.name = name;
  }

  stream(argv: string[], opts: StreamOptions = {}): RunningProcess {
    return new LocalProcess(argv, opts);
  }

  exec(argv: string[], opts: StreamOptions & { timeoutMs?: number } = {}): Promise<ExecResult> {
    return collectOutput(this.stream(argv, opts), opts.timeoutMs);
  }

  async which(cmd: string): Promise<string | null> {
    if (cmd.includes('/')) return isExecutable(cmd) ? path.resolve(cmd) : null;
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (!dir) continue;
      const candidate = path.join(dir, cmd);
      if (isExecutable(candidate)) return candidate;
    }
    return null;
  }

  nodeName(): string {
    return os.hostname();
  }

  async cpuCount(): Promise<number> {
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }

  readFile(file: string): Promise<Buffer> {
    return fs.promises.readFile(file);
  }

  writeFile(file: string, data: Buffer | string): Promise<void> {
    return fs.promises.writeFile(file, data);
  }

  async killCarrying(entry: string): Promise<KilledProcess[]> {
    const wanted = Buffer.from(entry);
    const killed = new Map<number, string>();
    // A process may fork while a pass runs: passes go on until one finds nothing (at most five).
    for (let pass = 0; pass < 5; pass++) {
      let found = 0;
      for (const pid of processIds()) {
        if (pid === process.pid || !carries(pid, wanted)) continue;
        const command = commandLine(pid);
        if (!signalPid(pid, 'SIGKILL')) continue;
        found++;
        killed.set(pid, command);
      }
      if (!found) break;
      await sleep(50);
    }
    return [...killed].map(([pid, command]) => ({ pid, command }));
  }
}

function processIds(): number[] {
  try {
    return fs.readdirSync('/proc').filter(e => /^\d+$/.test(e)).map(Number);
  } catch {
    return [];
  }
}

/** Whether the process's environment holds `entry` as one whole NAME=value (unreadable: no). */
function carries(pid: number, entry: Buffer): boolean {
  let environ: Buffer;
  try {
    environ = fs.readFileSync(`/proc/${pid}/environ`);
  } catch {
    return false;
  }
  for (let at = environ.indexOf(entry); at >= 0; at = environ.indexOf(entry, at + 1)) {
    const end = at + entry.length;
    if ((at === 0 || environ[at - 1] === 0) && (end === environ.length || environ[end] === 0)) return true;
  }
  return false;
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`).toString('utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

class LocalProcess implements RunningProcess {
  readonly pid?: number;
  readonly exited: Promise<ExitStatus>;
  private readonly child;
  private killing?: Promise<void>;

  constructor(argv: string[], opts: StreamOptions) {
    if (argv.length === 0) throw new Error('cannot run an empty command');
    // detached: the launch becomes its own process group, so a kill reaches mpirun and what it forked
    // without touching the editor or the CLI itself.
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    const pid = this.pid;
    if (pid !== undefined) orphanReaper().watch(pid, opts.env?.DISTEST_RUN_ID);
    this.exited = new Promise<ExitStatus>(resolve => {
      this.child.once('error', (err: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error: spawnErrorText(argv[0], opts.cwd, err) }));
      // 'close' (not 'exit') so every byte of stdout/stderr has been delivered before the status is.
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    }).finally(() => pid !== undefined && orphanReaper().forget(pid));
  }

  onStdout(cb: (b: Buffer) => void): void {
    this.child.stdout?.on('data', cb);
  }

  onStderr(cb: (b: Buffer) => void): void {
    this.child.stderr?.on('data', cb);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.killing ??= this.killTree(signal);
    return this.killing;
  }

  private async killTree(signal: NodeJS.Signals): Promise<void> {
    const leader = this.pid;
    if (leader === undefined) return;
    // OpenMPI puts every rank in a process group of its own, so the group alone is not enough: remember
    // the whole descendant tree now, while the parent links still exist.
    const tree = new Set(descendants(leader));
    signalGroup(leader, signal);
    for (const pid of tree) signalPid(pid, signal);
    const deadline = Date.now() + KILL_GRACE_MS;
    while (Date.now() < deadline) {
      for (const pid of descendants(leader)) tree.add(pid);
      if (!groupAlive(leader) && [...tree].every(pid => !pidAlive(pid))) return;
      await sleep(50);
    }
    for (const pid of descendants(leader)) tree.add(pid);
    signalGroup(leader, 'SIGKILL');
    for (const pid of tree) signalPid(pid, 'SIGKILL');
    await this.exited;
  }
}

/**
 * Stops what we started if this process dies without stopping it (the extension host killed, the CLI
 * SIGKILLed): a small shell in its own process group is told each live process group (and its run id)
 * and, when its stdin reaches EOF because we are gone, TERMs the groups, KILLs them after a grace, and
 * KILLs whatever still carries the run id (OpenMPI ranks sit in process groups of their own).
 */
const REAPER_SCRIPT = `
live=""
while read -r op group run; do
  case $op in
    +) live="$live $group:$run" ;;
    -) kept=""; for entry in $live; do case $entry in "$group":*) ;; *) kept="$kept $entry" ;; esac; done; live=$kept ;;
  esac
done
[ -z "$live" ] && exit 0
for entry in $live; do kill -s TERM -- "-\${entry%%:*}" 2>/dev/null; done
sleep ${KILL_GRACE_MS / 1000}
for entry in $live; do
  kill -s KILL -- "-\${entry%%:*}" 2>/dev/null
  run=\${entry#*:}
  [ -n "$run" ] || continue
  for env in /proc/[0-9]*/environ; do
    if tr '\\0' '\\n' < "$env" 2>/dev/null | grep -qxF "DISTEST_RUN_ID=$run"; then
      pid=\${env#/proc/}; kill -s KILL "\${pid%/environ}" 2>/dev/null
    fi
  done
done
`;

interface OrphanReaper { watch(pgid: number, runId: string | undefined): void; forget(pgid: number): void }

let reaper: OrphanReaper | undefined;

function orphanReaper(): OrphanReaper {
  if (reaper) return reaper;
  const child = spawn('/bin/sh', ['-c', REAPER_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  // Neither the shell nor the pipe to it may keep this process alive.
  child.unref();
  const stdin = child.stdin as (NonNullable<typeof child.stdin> & { unref?(): void }) | null;
  stdin?.unref?.();
  stdin?.on('error', () => undefined);
  const send = (line: string) => void stdin?.write(line);
  reaper = {
    // Run ids are hex tokens; anything else is left out rather than put on the shell's command line.
    watch: (pgid, runId) => send(`+ ${pgid} ${runId && /^[A-Za-z0-9_-]+$/.test(runId) ? runId : ''}\n`),
    forget: pgid => send(`- ${pgid}\n`),
  };
  return reaper;
}

function spawnErrorText(cmd: string, cwd: string | undefined, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') {
    return cwd && !fs.existsSync(cwd) ? `cannot start ${cmd}: working folder ${cwd} does not exist` : `cannot start ${cmd}: no such program`;
  }
  if (err.code === 'EACCES') return `cannot start ${cmd}: permission denied (not executable?)`;
  return `cannot start ${cmd}: ${err.message}`;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is already gone.
  }
}

/** False when the process is already gone (or not ours to signal). */
function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie answers signal 0 but is already dead; its parent (maybe us) just has not reaped it yet.
  return procState(pid) !== 'Z';
}

interface ProcStat { ppid: number; state: string }

function readStat(pid: string): ProcStat | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

function procState(pid: number): string | undefined {
  return readStat(String(pid))?.state;
}

/** Every live descendant of `root` (Linux /proc; elsewhere the process group has to do). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of processIds()) {
    const stat = readStat(String(pid));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
