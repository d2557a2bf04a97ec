// From what the user picked (an allocation spec) to an Allocation runs can use, and the list the
// picker and `distest allocations` show: this machine, the configured SSH hosts, and the user's Slurm
// and PBS jobs on this machine and on each configured login host. The CLI and the editor share it.
import { findMpi, localAllocation, type Allocation, type HostSlots } from './allocation';
import { formatAllocationSpec, type AllocationSpec, type HostSlotsSpec } from './spec';
import type { Host } from '../transport/host';
import { SchedulerError } from './scheduler';
import { Pbs, type PbsJob } from './pbs';
import { Slurm, type SallocEvent } from './slurm';

/** Hosts by ssh_config alias; `undefined` is this machine. The opener owns them (one connection each). */
export type HostOpener = (alias: string | undefined) => Host;

/** What `New Slurm allocation` and `--allocation slurm:new` ask for unless told otherwise. */
export interface SlurmDefaults { nodes: number; tasks: number; minutes: number; partition: string; account: string; mpiPlugin: string }
/** What `New PBS allocation` and `--allocation pbs:new` ask for unless told otherwise. */
export interface PbsDefaults { nodes: number; ncpus: number; walltime: string; queue: string; account: string }

/** The settings (`distest.*`) an allocation is resolved with. */
export interface AllocationSettings {
  /** mpirun/mpiexec to use; empty means `mpirun`, then `mpiexec` on PATH. */
  mpiexecPath: string;
  local: {
    oversubscribe: boolean;
    /** Local rank counts stop at this many ranks per slot (0: no limit). */
    maxRanksPerSlot: number;
    /** This machine's slots; null: its CPU count. */
    slots: number | null;
  };
  /** SSH hosts the allocation picker offers, each with its slots (else `nproc` there). */
  hosts: HostSlotsSpec[];
  /** ssh_config aliases where squeue/salloc/qstat run; this machine is asked too when it has them. */
  loginHosts: string[];
  slurm: SlurmDefaults;
  pbs: PbsDefaults;
}

export interface AllocationContext {
  settings: AllocationSettings;
  /** Python for the ranks (the CLI's --python, the editor's interpreter, else the setting). */
  python: string;
  open: HostOpener;
}

export interface ResolveOptions {
  /** Progress of a new allocation: queued, granted, scheduler messages. */
  onProgress?(text: string): void;
  /** Stops waiting for a new allocation (the queued job is withdrawn). No timeout otherwise. */
  signal?: AbortSignal;
  /** What the user asked for a `slurm:new` / `pbs:new` job; the rest comes from `distest.slurm.*` / `distest.pbs.*`. */
  request?: NewAllocationRequest;
  /**
   * A created Slurm job stays when this process ends (the editor keeps it until released). Otherwise
   * (the CLI) it lives only as long as this process, however that ends; see SallocOptions.keepAfterExit.
   */
  keepCreatedJobs?: boolean;
}

/** One size request for either scheduler: `tasks` counts ranks in all (PBS gets them per node). */
export interface NewAllocationRequest { nodes?: number; tasks?: number; minutes?: number; partition?: string; account?: string }

export interface ResolvedAllocation {
  allocation: Allocation;
  /** The spec to reuse it (`slurm:new` resolves to `slurm:1234`). */
  spec: AllocationSpec;
  /** Gives back what distest created for this choice (cancels the job); absent when nothing was created. */
  release?: () => Promise<void>;
}

export async function resolveAllocation(spec: AllocationSpec, ctx: AllocationContext, opts: ResolveOptions = {}): Promise<ResolvedAllocation> {
  const { settings } = ctx;
  switch (spec.kind) {
    case 'local': {
      const host = ctx.open(undefined);
      const python = await launchingPython(host, ctx.python);
      return {
        spec,
        allocation: await localAllocation(host, {
          python, mpiexecPath: settings.mpiexecPath || undefined, slots: settings.local.slots ?? undefined, oversubscribe: settings.local.oversubscribe, maxRanksPerSlot: settings.local.maxRanksPerSlot,
        }),
      };
    }
    case 'hosts': {
      const launcher = await reach(ctx, spec.login);
      const [hosts, mpi, python] = await Promise.all([
        Promise.all(spec.hosts.map(h => hostSlots(h, spec.login, ctx))),
        findMpi(launcher, settings.mpiexecPath),
        launchingPython(launcher, ctx.python),
      ]);
      return { spec, allocation: { kind: 'hosts', host: launcher, hosts, python, ...mpi } };
    }
    case 'slurm': {
      const login = await reach(ctx, spec.login);
      const slurm = new Slurm(login);
      const python = await launchingPython(login, ctx.python);
      const mpiPlugin = settings.slurm.mpiPlugin || undefined;
      if (spec.jobId !== 'new') return { spec, allocation: { ...(await slurm.useJob(spec.jobId, python)), mpiPlugin } };
      const req = slurmRequest(settings.slurm, opts.request ?? {});
      const allocation = await slurm.allocate(
        { nodes: req.nodes, tasks: req.tasks || undefined, minutes: req.minutes, partition: req.partition || undefined, account: req.account || undefined, python },
        { signal: opts.signal, onProgress: e => opts.onProgress?.(sallocProgress(e)), keepAfterExit: opts.keepCreatedJobs },
      );
      return { spec: { ...spec, jobId: allocation.jobId }, allocation: { ...allocation, mpiPlugin }, release: () => slurm.cancel(allocation) };
    }
    case 'pbs':
      return resolvePbs(spec, ctx, opts);
  }
}

/**
 * The python the ranks run. A name (`python3`, the default) is looked up on the launching host, in the
 * environment the user's tools see there, and the ranks get that path: left to the launchers, each
 * searches a PATH of its own (mpirun started by its absolute path puts its own bin folder first; srun
 * and ssh use each node's), and a node's `python3` may lack what the user's has. A path is kept as
 * given; a name not found there is too, for the run to report.
 */
async function launchingPython(host: Host, python: string): Promise<string> {
  if (python.includes('/')) return python;
  return (await host.which(python)) ?? python;
}

/**
 * The host `alias` names, connected: a host key the user refused (or any other refusal) ends the
 * resolution with its reason, instead of every later lookup on it finding nothing ("no mpirun",
 * "python not found") and asking again.
 */
async function reach(ctx: AllocationContext, alias: string | undefined): Promise<Host> {
  const host = ctx.open(alias);
  await host.connect?.();
  return host;
}

function slurmRequest(d: SlurmDefaults, r: NewAllocationRequest): SlurmDefaults {
  return { ...d, nodes: r.nodes ?? d.nodes, tasks: r.tasks ?? d.tasks, minutes: r.minutes ?? d.minutes, partition: r.partition ?? d.partition, account: r.account ?? d.account };
}

function pbsRequest(d: PbsDefaults, r: NewAllocationRequest): PbsDefaults {
  const nodes = r.nodes ?? d.nodes;
  return {
    nodes,
    ncpus: r.tasks ? Math.ceil(r.tasks / nodes) : d.ncpus,
    walltime: r.minutes ? `${Math.floor(r.minutes / 60)}:${String(r.minutes % 60).padStart(2, '0')}:00` : d.walltime,
    queue: r.partition ?? d.queue,
    account: r.account ?? d.account,
  };
}

/** Slots from the spec, else from `distest.hosts`, else `nproc` on the host (reached the way mpirun will). */
async function hostSlots(h: HostSlotsSpec, login: string | undefined, ctx: AllocationContext): Promise<HostSlots> {
  const slots = h.slots ?? ctx.settings.hosts.find(c => c.name === h.name)?.slots;
  if (slots) return { name: h.name, slots };
  if (!login) return { name: h.name, slots: await (await reach(ctx, h.name)).cpuCount() };
  // Behind a login host the node is only reachable from there, with the login host's own ssh.
  const res = await ctx.open(login).exec(['ssh', '-o', 'BatchMode=yes', h.name, 'nproc'], { timeoutMs: 30_000 });
  const n = Number(res.stdout.trim());
  if (res.code !== 0 || !Number.isInteger(n) || n < 1) {
    throw new SchedulerError(`ssh ${h.name} nproc`, `on ${login}: cannot count the CPUs of ${h.name} (${res.stderr.trim() || `exit ${res.code}`}); give its slots as hosts:${h.name}:N or in distest.hosts`);
  }
  return { name: h.name, slots: n };
}

function sallocProgress(e: SallocEvent): string {
  switch (e.kind) {
    case 'pending':
      return `Slurm job ${e.jobId} is waiting in the queue`;
    case 'granted':
      return `Slurm job ${e.jobId} granted`;
    case 'message':
      return e.text;
  }
}

const PBS_POLL_MS = 5000;

/**
 * PBS ranks start with PALS' mpiexec from inside the job, so runs go to its first node (reached by ssh,
 * e.g. through a `ProxyJump login` in ~/.ssh/config), while qstat/qsub/qdel run on the login host.
 */
async function resolvePbs(spec: Extract<AllocationSpec, { kind: 'pbs' }>, ctx: AllocationContext, opts: ResolveOptions): Promise<ResolvedAllocation> {
  const pbs = new Pbs(await reach(ctx, spec.login));
  const ready = async (job: PbsJob, created: boolean): Promise<ResolvedAllocation> => {
    const host = await reach(ctx, job.execHosts[0]);
    return {
      spec: { ...spec, jobId: job.jobId },
      allocation: {
        kind: 'pbs', host, jobId: job.jobId, nodes: job.nodes, ppn: Math.max(1, Math.floor(job.ncpus / Math.max(1, job.nodes))),
        python: await launchingPython(host, ctx.python),
      },
      ...(created ? { release: () => pbs.cancel(job.jobId, true) } : {}),
    };
  };
  if (spec.jobId !== 'new') {
    const job = (await pbs.listJobs()).find(j => j.jobId === spec.jobId || j.jobId.split('.')[0] === spec.jobId);
    if (!job) throw new SchedulerError('qstat -f', `job ${spec.jobId} is not one of your jobs`);
    if (job.state !== 'R' || !job.execHosts.length) throw new SchedulerError('qstat -f', `job ${spec.jobId} is in state ${job.state}, not running`);
    return ready(job, false);
  }
  const req = pbsRequest(ctx.settings.pbs, opts.request ?? {});
  const submitted = await pbs.allocate({ ...req, queue: req.queue || undefined, account: req.account || undefined, python: ctx.python });
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new SchedulerError(`qsub (job ${submitted.jobId})`, 'cancelled while waiting in the queue');
      const job = (await pbs.listJobs()).find(j => j.jobId === submitted.jobId);
      if (!job) throw new SchedulerError('qstat -f', `job ${submitted.jobId} left the queue without running`);
      if (job.state === 'R' && job.execHosts.length) return await ready(job, true);
      opts.onProgress?.(`PBS job ${job.jobId} is ${job.state === 'Q' ? 'waiting in the queue' : `in state ${job.state}`}`);
      await new Promise(resolve => setTimeout(resolve, PBS_POLL_MS));
    }
  } catch (err) {
    await pbs.cancel(submitted.jobId, true).catch(() => undefined);
    throw err;
  }
}

/** One line of the picker / `distest allocations`. */
export interface AllocationChoice {
  /** What to pass to `--allocation` (absent for a problem line). */
  spec?: string;
  kind: 'local' | 'hosts' | 'slurm' | 'pbs' | 'problem';
  label: string;
  description: string;
  /** Scheduler state (RUNNING, PENDING, R, Q, ...) of a job. */
  state?: string;
  /** Time left as the scheduler prints it. */
  timeLeft?: string;
  /** True for the "New ... allocation" entries. */
  creates?: boolean;
}

/** Everything the user could pick; a login host that cannot be asked becomes a problem line, not an error. */
export async function listAllocations(ctx: AllocationContext): Promise<AllocationChoice[]> {
  const local = ctx.open(undefined);
  const choices: AllocationChoice[] = [{
    spec: 'local', kind: 'local', label: 'Local machine',
    description: `mpirun on this machine, ${ctx.settings.local.slots ?? (await local.cpuCount())} slots`,
  }];
  const hosts = ctx.settings.hosts;
  for (const h of hosts) {
    choices.push({ spec: formatAllocationSpec({ kind: 'hosts', hosts: [h] }), kind: 'hosts', label: h.name, description: `SSH host, ${h.slots ? `${h.slots} slots` : 'slots from nproc'}` });
  }
  if (hosts.length > 1) {
    choices.push({ spec: formatAllocationSpec({ kind: 'hosts', hosts }), kind: 'hosts', label: `All SSH hosts (${hosts.length})`, description: hosts.map(h => h.name).join(', ') });
  }
  const logins: (string | undefined)[] = [undefined, ...ctx.settings.loginHosts];
  const perLogin = await Promise.all(logins.map(login => schedulerChoices(login, ctx)));
  return choices.concat(...perLogin);
}

async function schedulerChoices(login: string | undefined, ctx: AllocationContext): Promise<AllocationChoice[]> {
  const where = login ?? 'this machine';
  const prefix = login ? `${login}/` : '';
  let host: Host;
  let found: [string | null, string | null];
  try {
    host = await reach(ctx, login);
    found = await Promise.all([host.which('squeue'), host.which('qstat')]);
  } catch (err) {
    return [{ kind: 'problem', label: `${where}: cannot connect`, description: (err as Error).message }];
  }
  const [squeue, qstat] = found;
  if (login && !squeue && !qstat) return [{ kind: 'problem', label: `${where}: no scheduler`, description: 'neither squeue (Slurm) nor qstat (PBS) is on its PATH' }];
  const choices: AllocationChoice[] = [];
  if (squeue) {
    try {
      const slurm = new Slurm(host);
      const [jobs, left] = await Promise.all([slurm.listJobs(), slurm.timesLeft()]);
      for (const job of jobs) {
        const timeLeft = left.get(job.jobId);
        choices.push({
          spec: `${prefix}slurm:${job.jobId}`, kind: 'slurm', label: `Slurm job ${job.jobId} ${job.name}`, state: job.state, ...(timeLeft ? { timeLeft } : {}),
          description: [`${job.nodes} node${job.nodes === 1 ? '' : 's'}`, job.state, job.state === 'RUNNING' && timeLeft ? `${timeLeft} left` : '', login ? `on ${login}` : ''].filter(Boolean).join(' · '),
        });
      }
      const d = ctx.settings.slurm;
      choices.push({
        spec: `${prefix}slurm:new`, kind: 'slurm', creates: true, label: `New Slurm allocation${login ? ` on ${login}` : ''}…`,
        description: `salloc -N ${d.nodes}${d.tasks ? ` -n ${d.tasks}` : ''} -t ${d.minutes}${d.partition ? ` -p ${d.partition}` : ''}`,
      });
    } catch (err) {
      choices.push({ kind: 'problem', label: `Slurm on ${where}`, description: (err as Error).message });
    }
  }
  if (qstat) {
    try {
      for (const job of await new Pbs(host).listJobs()) {
        choices.push({
          spec: `${prefix}pbs:${job.jobId}`, kind: 'pbs', label: `PBS job ${job.jobId} ${job.name}`, state: job.state,
          description: [`${job.nodes} node${job.nodes === 1 ? '' : 's'}`, job.state, job.walltime ? `walltime ${job.walltime}` : '', login ? `on ${login}` : ''].filter(Boolean).join(' · '),
        });
      }
      const d = ctx.settings.pbs;
      choices.push({
        spec: `${prefix}pbs:new`, kind: 'pbs', creates: true, label: `New PBS allocation${login ? ` on ${login}` : ''}…`,
        description: `qsub -l select=${d.nodes}:ncpus=${d.ncpus} -l walltime=${d.walltime}${d.queue ? ` -q ${d.queue}` : ''}`,
      });
    } catch (err) {
      choices.push({ kind: 'problem', label: `PBS on ${where}`, description: (err as Error).message });
    }
  }
  return choices;
}

/** Cancels a job distest created (the caller keeps that record, e.g. across editor reloads). */
export async function cancelCreatedJob(spec: AllocationSpec, open: HostOpener): Promise<void> {
  if (spec.kind === 'slurm' && spec.jobId !== 'new') await new Slurm(open(spec.login)).cancelJob(spec.jobId, true);
  else if (spec.kind === 'pbs' && spec.jobId !== 'new') await new Pbs(open(spec.login)).cancel(spec.jobId, true);
}

/** Seconds in a Slurm time (`59`, `4:59`, `1:04:59`, `2-01`, `2-01:04:59`); null for UNLIMITED, INVALID, NOT_SET. */
export function slurmTimeSeconds(text: string): number | null {
  const t = text.trim();
  const withDays = /^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (withDays) {
    const [days, hours, minutes, seconds] = withDays.slice(1).map(v => Number(v ?? 0));
    return days * 86400 + hours * 3600 + minutes * 60 + seconds;
  }
  if (!/^\d+(?::\d+){0,2}$/.test(t)) return null;
  return t.split(':').reduce((total, part) => total * 60 + Number(part), 0);
}
