// Slurm through its command-line clients on the login node (any Host): list the user's jobs, reuse a
// running allocation, create one with salloc, cancel only what distest created.
import type { SlurmAllocation } from './allocation';
import type { Host, RunningProcess } from '../transport/host';
import { distestJobName, isNodeName, isRecord, parseJsonOutput, query, SchedulerError } from './scheduler';

export interface SlurmJob {
  jobId: string;
  name: string;
  /** RUNNING, PENDING, ... (Slurm's long state names). */
  state: string;
  nodes: number;
  cpus: number;
  /** Compressed node list (`node[1-2]`), empty while pending. */
  nodeList: string;
  partition: string;
  account: string;
}

/** Jobs in these states hold (or will hold) nodes; squeue --json also lists recently finished ones. */
const ACTIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'RESIZING', 'REQUEUED']);
/** Jobs in these states have their nodes, so their node and CPU counts are known and at least 1. */
const HOLDING_STATES = new Set(['RUNNING', 'SUSPENDED', 'COMPLETING']);

/** `squeue -o` fields for Slurm versions without --json; `|` cannot occur in any of them but the name. */
export const SQUEUE_FORMAT = '%i|%T|%D|%C|%N|%P|%a|%j';

/** Reads `squeue --json` (OpenAPI v0.0.37+ document): the user's active jobs. */
export function parseSqueueJson(text: string, command = 'squeue --json'): SlurmJob[] {
  const doc = parseJsonOutput(command, text);
  if (!isRecord(doc) || !Array.isArray(doc.jobs)) throw new SchedulerError(command, 'printed JSON without a "jobs" list');
  return doc.jobs.flatMap(job => {
    // Slurm 23.02+ writes states as lists (["RUNNING"]) and numbers as {"set", "number"} objects.
    const state = isRecord(job) && Array.isArray(job.job_state) ? job.job_state[0] : isRecord(job) ? job.job_state : undefined;
    if (!isRecord(job) || job.job_id === undefined || typeof state !== 'string') {
      throw new SchedulerError(command, `printed a job entry distest cannot read: ${JSON.stringify(job).slice(0, 120)}`);
    }
    if (!ACTIVE_STATES.has(state)) return [];
    const jobId = String(job.job_id);
    return [checkedCounts({
      jobId,
      name: String(job.name ?? ''),
      state,
      nodes: slurmCount(job.node_count, `job ${jobId}'s node_count`, command),
      cpus: slurmCount(job.cpus, `job ${jobId}'s cpus`, command),
      nodeList: String(job.nodes ?? ''),
      partition: String(job.partition ?? ''),
      account: String(job.account ?? ''),
    }, command)];
  });
}

/** A count as squeue --json writes it: a number, or `{"set", "infinite", "number"}` (23.02+); unset is 0. */
function slurmCount(value: unknown, what: string, command: string): number {
  if (value === undefined || (isRecord(value) && value.set === false)) return 0;
  const n = isRecord(value) && value.infinite !== true ? value.number : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new SchedulerError(command, `printed ${what} as ${JSON.stringify(value)}, not a count`);
  }
  return n;
}

/** A job holding nodes must say how many, and have a CPU for each: else runs would be planned on nothing. */
function checkedCounts(job: SlurmJob, command: string): SlurmJob {
  if (HOLDING_STATES.has(job.state) && (job.nodes < 1 || job.cpus < job.nodes)) {
    throw new SchedulerError(command, `printed ${job.state} job ${job.jobId} with ${job.nodes} nodes and ${job.cpus} CPUs; a running job has at least one node and a CPU on each`);
  }
  return job;
}

/** Reads `squeue -h -o SQUEUE_FORMAT` lines. */
export function parseSqueueFormat(text: string, command = `squeue -h -o ${SQUEUE_FORMAT}`): SlurmJob[] {
  return text
    .split('\n')
    .filter(line => line.trim())
    .map(line => {
      const f = line.split('|');
      if (f.length < 8 || !/^\d+(_\d+)?$/.test(f[0]) || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) {
        throw new SchedulerError(command, `printed a line distest cannot read: ${line.slice(0, 120)}`);
      }
      return checkedCounts({
        jobId: f[0], state: f[1], nodes: Number(f[2]), cpus: Number(f[3]), nodeList: f[4], partition: f[5], account: f[6],
        name: f.slice(7).join('|'),
      }, command);
    });
}

export type SallocEvent = { kind: 'pending' | 'granted'; jobId: string } | { kind: 'message'; text: string };

/** One line of salloc's stderr: `salloc: Granted job allocation 4`, `salloc: Pending job allocation 5`, else a message. */
export function parseSallocLine(line: string): SallocEvent {
  const m = /^salloc: (Granted|Pending) job allocation (\d+)/.exec(line);
  if (m) return { kind: m[1] === 'Granted' ? 'granted' : 'pending', jobId: m[2] };
  return { kind: 'message', text: line.replace(/^salloc: /, '') };
}

/** Reads `scontrol show hostnames LIST`: one node name a line, each one ssh and `srun -w` could be given. */
export function parseHostnames(text: string, command = 'scontrol show hostnames'): string[] {
  const names = text.split('\n').map(n => n.trim()).filter(Boolean);
  const bad = names.find(n => !isNodeName(n));
  if (bad !== undefined) throw new SchedulerError(command, `printed ${JSON.stringify(bad.slice(0, 80))}, which is not a node name`);
  if (!names.length) throw new SchedulerError(command, 'printed no node names');
  return names;
}

/** `slurm-wlm 22.05.8` / `slurm 23.02.1` → [22, 5]. */
export function parseSlurmVersion(text: string): [number, number] {
  const m = /^slurm(?:-wlm)?\s+(\d+)\.(\d+)/m.exec(text.trim());
  if (!m) throw new SchedulerError('squeue --version', `printed no Slurm version: ${text.slice(0, 80)}`);
  return [Number(m[1]), Number(m[2])];
}

export interface SallocRequest {
  nodes: number;
  tasks?: number;
  /** Time limit in minutes; the partition's default when absent. */
  minutes?: number;
  partition?: string;
  account?: string;
  python: string;
}

export interface SallocOptions {
  /** Each salloc line as it arrives, until the job is granted: pending, queued, granted. */
  onProgress?: (event: SallocEvent) => void;
  /** Gives up waiting: salloc is stopped and a pending job cancelled. No timeout unless the caller sets one. */
  signal?: AbortSignal;
  /**
   * The job outlives distest (`salloc --no-shell`): the editor keeps it across reloads until the user
   * releases it. Otherwise salloc stays running on the login host and holds the job until it is
   * cancelled, so the job ends with distest however distest ends: killed outright, the orphan reaper
   * (local login host) or the remote watchdog (ssh) stops salloc, and salloc relinquishes the job.
   */
  keepAfterExit?: boolean;
}

/**
 * What a holding salloc runs: nothing, until the job ends or salloc is gone. salloc starts its command
 * in a process group of its own, which stopping salloc's group (the orphan reaper) does not reach, so
 * the command watches salloc itself and ends within a second of it.
 */
const HOLD_COMMAND = ['sh', '-c', 'while kill -0 "$PPID" 2>/dev/null; do sleep 1; done'];

export class Slurm {
  private jsonSupport?: boolean;
  /** The salloc holding each job this instance created (unless kept after exit), stopped on cancel. */
  private readonly holders = new Map<string, RunningProcess>();

  constructor(readonly host: Host) {}

  /** The user's active jobs (`squeue --me`, as JSON where the Slurm version has it). */
  async listJobs(): Promise<SlurmJob[]> {
    if (this.jsonSupport === undefined) {
      const [major, minor] = parseSlurmVersion(await query(this.host, ['squeue', '--version']));
      this.jsonSupport = major > 21 || (major === 21 && minor >= 8);
    }
    if (this.jsonSupport) return parseSqueueJson(await query(this.host, ['squeue', '--me', '--json']), 'squeue --me --json');
    return parseSqueueFormat(await query(this.host, ['squeue', '--me', '-h', '-o', SQUEUE_FORMAT]));
  }

  /**
   * One of the user's active jobs, or undefined: one squeue call (`-o`, every version has it), where the
   * whole listing would cost a version check and `--json` besides.
   */
  async job(jobId: string): Promise<SlurmJob | undefined> {
    const out = await this.squeueJob(jobId, ['--me', '-o', SQUEUE_FORMAT]);
    return out === null ? undefined : parseSqueueFormat(out, `squeue --me -j ${jobId} -h -o ${SQUEUE_FORMAT}`).find(j => j.jobId === jobId);
  }

  /** An allocation over a job that already runs (created outside distest: never cancelled by it). */
  async useJob(jobId: string, python: string): Promise<SlurmAllocation> {
    const job = await this.job(jobId);
    if (!job) throw new SchedulerError('squeue --me', `job ${jobId} is not one of your active jobs`);
    if (job.state !== 'RUNNING') throw new SchedulerError('squeue --me', `job ${jobId} is ${job.state}, not RUNNING`);
    return { kind: 'slurm', host: this.host, jobId, nodes: job.nodes, tasks: job.cpus, python, created: false };
  }

  /** Creates an allocation with salloc (see SallocOptions.keepAfterExit); waits as long as the queue takes unless `signal` aborts. */
  async allocate(req: SallocRequest, opts: SallocOptions = {}): Promise<SlurmAllocation> {
    const argv = ['salloc', ...(opts.keepAfterExit ? ['--no-shell'] : []), '-N', String(req.nodes)];
    if (req.tasks !== undefined) argv.push('-n', String(req.tasks));
    if (req.minutes !== undefined) argv.push('-t', String(req.minutes));
    if (req.partition) argv.push('-p', req.partition);
    if (req.account) argv.push('-A', req.account);
    argv.push('-J', distestJobName());
    const command = argv.join(' ');
    const proc = this.host.stream(opts.keepAfterExit ? argv : [...argv, ...HOLD_COMMAND]);
    let jobId: string | undefined;
    let granted = false;
    let onGranted = (): void => undefined;
    const grant = new Promise<void>(resolve => (onGranted = resolve));
    const messages: string[] = [];
    let pending = '';
    const onText = (b: Buffer) => {
      if (granted && !opts.keepAfterExit) return; // the holder's later lines are no progress of this call
      pending += b.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines.filter(l => l.trim())) {
        const event = parseSallocLine(line);
        if (event.kind === 'message') messages.push(event.text);
        else {
          jobId = event.jobId;
          granted ||= event.kind === 'granted';
        }
        opts.onProgress?.(event);
        if (granted) onGranted();
      }
    };
    proc.onStdout(onText);
    proc.onStderr(onText);
    const onAbort = () => void proc.kill();
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    // --no-shell: salloc exits once granted. Holding: salloc runs on; the grant is the answer.
    const status = await Promise.race([proc.exited, ...(opts.keepAfterExit ? [] : [grant.then(() => undefined)])]);
    opts.signal?.removeEventListener('abort', onAbort);
    if (opts.signal?.aborted) {
      // salloc revokes its pending job when stopped; scancel makes sure of it (and of a just-granted one).
      if (jobId) await this.host.exec(['scancel', jobId], { timeoutMs: 30_000 });
      throw new SchedulerError(command, `cancelled while ${granted ? 'starting' : 'waiting in the queue'}`);
    }
    if (status?.error) throw new SchedulerError(command, status.error);
    if (!granted || !jobId || (status && status.code !== 0)) {
      throw new SchedulerError(command, `no allocation (exit ${status?.code ?? status?.signal}): ${messages.slice(-3).join(' / ') || 'no output'}`);
    }
    // Holding: salloc runs on until cancelJob stops it.
    if (!status) this.holders.set(jobId, proc);
    return { kind: 'slurm', host: this.host, jobId, nodes: req.nodes, tasks: req.tasks ?? req.nodes, python: req.python, created: true };
  }

  /** The job's nodes by name (`dt-node[1-2]` → dt-node1, dt-node2). */
  async hostnames(nodeList: string): Promise<string[]> {
    const argv = ['scontrol', 'show', 'hostnames', nodeList];
    return parseHostnames(await query(this.host, argv), argv.join(' '));
  }

  /** Cancels an allocation distest created; one it only used is left alone (the caller is told). */
  cancel(alloc: SlurmAllocation): Promise<void> {
    return this.cancelJob(alloc.jobId, alloc.created);
  }

  /** The same by job id, for a job whose allocation object is gone (`created` is the caller's record). */
  async cancelJob(jobId: string, created: boolean): Promise<void> {
    if (!created) throw new SchedulerError(`scancel ${jobId}`, 'refused: distest did not create this job');
    const holder = this.holders.get(jobId);
    this.holders.delete(jobId);
    try {
      await query(this.host, ['scancel', jobId]);
    } finally {
      await holder?.kill();
    }
  }

  /** Time left of each of the user's jobs, as Slurm prints it (`4:59`, `UNLIMITED`, `INVALID` while pending). */
  async timesLeft(): Promise<Map<string, string>> {
    const out = await query(this.host, ['squeue', '--me', '-h', '-o', '%i|%L']);
    return new Map(out.split('\n').filter(l => l.includes('|')).map(l => l.trim().split('|', 2) as [string, string]));
  }

  /** Time left as Slurm prints it (`4:59`, `1-00:00:00`, `UNLIMITED`), or null when the job is gone. */
  async timeLeft(jobId: string): Promise<string | null> {
    return (await this.squeueJob(jobId, ['-o', '%L']))?.trim() || null;
  }

  /** `squeue -j JOB -h ARGS`: its output, or null when Slurm no longer knows the job. */
  private async squeueJob(jobId: string, args: string[]): Promise<string | null> {
    const argv = ['squeue', '-j', jobId, '-h', ...args];
    const res = await this.host.exec(argv, { timeoutMs: 60_000 });
    if (res.code !== 0) {
      if (/Invalid job id/i.test(res.stderr)) return null;
      throw new SchedulerError(argv.join(' '), `failed on ${this.host.name}: ${res.stderr.trim()}`);
    }
    return res.stdout;
  }
}
