// PBS Pro (and PBS + HPE PALS) through qstat / qsub / qdel. PBS is not installable here: the parsers
// follow the documented formats (qstat -f -F json of PBS Pro 19+), not recorded output.
import type { PbsAllocation } from './allocation';
import type { Host } from '../transport/host';
import { distestJobName, isNodeName, isRecord, parseJsonOutput, query, SchedulerError } from './scheduler';

export interface PbsJob {
  jobId: string;
  name: string;
  /** Single-letter PBS state: Q queued, R running, H held, E exiting, ... */
  state: string;
  owner: string;
  queue: string;
  nodes: number;
  ncpus: number;
  /** Requested walltime `HH:MM:SS`, when set. */
  walltime?: string;
  /** Walltime used so far, when running. */
  walltimeUsed?: string;
  /** The job's nodes in order (from exec_host `n1/0*4+n2/0*4`); empty while queued. */
  execHosts: string[];
}

const QSTAT_JSON = 'qstat -f -F json';

/** Reads `qstat -f -F json`: `{"Jobs": {"<id>": {"Job_Name", "job_state", "Resource_List": {...}}}}`. */
export function parseQstatJson(text: string): PbsJob[] {
  const doc = parseJsonOutput(QSTAT_JSON, text);
  if (!isRecord(doc)) throw new SchedulerError(QSTAT_JSON, 'printed JSON that is not an object');
  // qstat omits "Jobs" entirely when there are none.
  if (doc.Jobs === undefined) return [];
  if (!isRecord(doc.Jobs)) throw new SchedulerError(QSTAT_JSON, 'printed a "Jobs" entry that is not an object');
  return Object.entries(doc.Jobs).map(([jobId, job]) => {
    if (!isRecord(job) || typeof job.job_state !== 'string') {
      throw new SchedulerError(QSTAT_JSON, `printed job ${jobId} without a job_state`);
    }
    const resources = isRecord(job.Resource_List) ? job.Resource_List : {};
    const used = isRecord(job.resources_used) ? job.resources_used : {};
    const parsed: PbsJob = {
      jobId,
      name: String(job.Job_Name ?? ''),
      state: job.job_state,
      owner: String(job.Job_Owner ?? '').split('@')[0],
      queue: String(job.queue ?? ''),
      nodes: pbsCount(resources.nodect, `job ${jobId}'s Resource_List.nodect`),
      ncpus: pbsCount(resources.ncpus, `job ${jobId}'s Resource_List.ncpus`),
      execHosts: typeof job.exec_host === 'string' ? execHosts(job.exec_host, jobId) : [],
      ...(typeof resources.walltime === 'string' ? { walltime: resources.walltime } : {}),
      ...(typeof used.walltime === 'string' ? { walltimeUsed: used.walltime } : {}),
    };
    // A running job holds its nodes: runs are planned from these counts, so nonsense must not pass.
    if (parsed.state === 'R' && (parsed.nodes < 1 || parsed.ncpus < parsed.nodes)) {
      throw new SchedulerError(QSTAT_JSON, `printed running job ${jobId} with nodect ${parsed.nodes} and ncpus ${parsed.ncpus}; a running job has at least one node and a CPU on each`);
    }
    return parsed;
  });
}

/** exec_host `n1/0*4+n2/0*4` → the node names in order, each one a plain node name. */
function execHosts(text: string, jobId: string): string[] {
  const names = [...new Set(text.split('+').map(h => h.split('/')[0]).filter(Boolean))];
  const bad = names.find(n => !isNodeName(n));
  if (bad !== undefined) throw new SchedulerError(QSTAT_JSON, `printed job ${jobId}'s exec_host with ${JSON.stringify(bad.slice(0, 80))}, which is not a node name`);
  return names;
}

/** A count of Resource_List: a whole number ≥ 0 (JSON number or digits); absent is 0. */
function pbsCount(value: unknown, what: string): number {
  if (value === undefined) return 0;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new SchedulerError(QSTAT_JSON, `printed ${what} as ${JSON.stringify(value)}, not a count`);
  }
  return n;
}

/** `HH:MM:SS` (hours may exceed 24) → seconds; null for anything else. */
export function walltimeSeconds(text: string): number | null {
  const m = /^(\d+):(\d{2}):(\d{2})$/.exec(text.trim());
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
}

function formatWalltime(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

export interface QsubRequest {
  nodes: number;
  /** CPUs per node, also the ranks per node. */
  ncpus: number;
  /** `HH:MM:SS`. */
  walltime: string;
  queue?: string;
  account?: string;
  python: string;
}

export class Pbs {
  constructor(readonly host: Host) {}

  /** The user's jobs (qstat -f lists everyone's; filtered by owner). */
  async listJobs(): Promise<PbsJob[]> {
    const user = (await query(this.host, ['id', '-un'])).trim();
    return parseQstatJson(await query(this.host, ['qstat', '-f', '-F', 'json'])).filter(j => j.owner === user);
  }

  /**
   * Submits a job that only holds the nodes (`sleep` for its walltime); ranks are started into it with
   * PALS mpiexec from `runHost` (a Host on the job's first node). Returns once qsub accepted it.
   */
  async allocate(req: QsubRequest, runHost: Host = this.host): Promise<PbsAllocation> {
    const seconds = walltimeSeconds(req.walltime);
    if (seconds === null) throw new SchedulerError('qsub', `walltime must be HH:MM:SS, got ${req.walltime}`);
    const argv = ['qsub', '-N', distestJobName(), '-l', `select=${req.nodes}:ncpus=${req.ncpus}:mpiprocs=${req.ncpus}`, '-l', `walltime=${formatWalltime(seconds)}`];
    if (req.queue) argv.push('-q', req.queue);
    if (req.account) argv.push('-A', req.account);
    argv.push('--', '/bin/sleep', String(seconds));
    const out = (await query(this.host, argv)).trim();
    if (!/^\d+(\[\])?(\.\S+)?$/.test(out)) throw new SchedulerError(argv.join(' '), `printed no job id: ${out.slice(0, 120)}`);
    return { kind: 'pbs', host: runHost, jobId: out, nodes: req.nodes, ppn: req.ncpus, python: req.python };
  }

  /** Deletes a job distest created (`created` tells; PBS has no other record of it). */
  async cancel(jobId: string, created: boolean): Promise<void> {
    if (!created) throw new SchedulerError(`qdel ${jobId}`, 'refused: distest did not create this job');
    await query(this.host, ['qdel', jobId]);
  }

  /** Seconds of walltime left, or null when the job is unknown or has no walltime. */
  async timeLeft(jobId: string): Promise<number | null> {
    const job = parseQstatJson(await query(this.host, ['qstat', '-f', '-F', 'json', jobId])).find(j => j.jobId === jobId);
    const limit = job?.walltime ? walltimeSeconds(job.walltime) : null;
    if (limit === null) return null;
    return Math.max(0, limit - (walltimeSeconds(job?.walltimeUsed ?? '') ?? 0));
  }
}
