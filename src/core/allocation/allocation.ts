import type { Host } from '../transport/host';
import { detectMpi, type MpiInstall } from './mpi';

/** `distest.local.maxRanksPerSlot` unless set: `parallel(100000)` on a laptop is a typo, not a test. */
export const DEFAULT_MAX_RANKS_PER_SLOT = 4;

/** The machine the tests run on, with what a launch plan needs to know about it. */
export interface LocalAllocation {
  kind: 'local';
  host: Host;
  /** Ranks that fit without oversubscribing; defaults to the host's CPU count. */
  slots: number;
  /**
   * The host's CPU count, when `slots` was set: OpenMPI counts the cores as the machine's slots, so a
   * launch beyond them needs --oversubscribe even where `slots` says it fits.
   */
  cpus?: number;
  /** Whether to pass --oversubscribe when a test needs more ranks than slots. */
  oversubscribe: boolean;
  /** Oversubscription stops at this many ranks per slot; 0 lifts the limit (DEFAULT_MAX_RANKS_PER_SLOT when absent). */
  maxRanksPerSlot?: number;
  python: string;
  /** Null when no MPI launcher was found; `mpiProblem` then says why. */
  mpi: MpiInstall | null;
  mpiProblem?: string;
}

export interface HostSlots { name: string; slots: number }

/** A list of machines reached by the MPI launcher itself (OpenMPI over ssh, Hydra's -hosts). */
export interface HostsAllocation {
  kind: 'hosts';
  /** Where mpirun runs; it starts the ranks on `hosts`. */
  host: Host;
  hosts: HostSlots[];
  python: string;
  mpi: MpiInstall | null;
  mpiProblem?: string;
}

/** A Slurm job whose nodes the ranks run on, started with `srun --jobid` from the login node `host`. */
export interface SlurmAllocation {
  kind: 'slurm';
  /** The login node: srun runs here. */
  host: Host;
  jobId: string;
  nodes: number;
  /** Tasks the job was granted; ranks beyond this are skipped. Unknown (undefined) means one per node. */
  tasks?: number;
  python: string;
  /** Whether distest created the job (and so may cancel it). */
  created: boolean;
  /** srun's --mpi plugin; mpi4py built on OpenMPI/PMIx needs 'pmix' (the default). */
  mpiPlugin?: string;
}

/**
 * A PBS Pro job holding nodes; ranks are started with PALS' mpiexec. `host` must be inside the job
 * (its first node, where PALS knows the job), not the login node.
 */
export interface PbsAllocation {
  kind: 'pbs';
  host: Host;
  jobId: string;
  nodes: number;
  /** Ranks per node the job holds (select's ncpus / mpiprocs). */
  ppn: number;
  python: string;
  mpiexec?: string;
}

export type Allocation = LocalAllocation | HostsAllocation | SlurmAllocation | PbsAllocation;

/** How many ranks fit in the allocation without oversubscribing. */
export function allocationSlots(alloc: Allocation): number {
  switch (alloc.kind) {
    case 'local':
      return alloc.slots;
    case 'hosts':
      return alloc.hosts.reduce((n, h) => n + h.slots, 0);
    case 'slurm':
      return alloc.tasks ?? alloc.nodes;
    case 'pbs':
      return alloc.nodes * alloc.ppn;
  }
}

/** Short name for messages: `local`, `hosts:n1,n2`, `slurm:5`, `pbs:123.server`. */
export function allocationLabel(alloc: Allocation): string {
  switch (alloc.kind) {
    case 'local':
      return 'local';
    case 'hosts':
      return `hosts:${alloc.hosts.map(h => h.name).join(',')}`;
    case 'slurm':
    case 'pbs':
      return `${alloc.kind}:${alloc.jobId}`;
  }
}

/** One line for a run's output and the editor's log: where the ranks go, with which python and launcher. */
export function describeAllocation(alloc: Allocation): string {
  switch (alloc.kind) {
    case 'local': {
      const launcher = alloc.mpi ? `${alloc.mpi.path} (${alloc.mpi.flavour} ${alloc.mpi.version})` : `no MPI launcher (${alloc.mpiProblem})`;
      return `local machine, ${alloc.slots} slots${alloc.oversubscribe ? ', oversubscription allowed' : ''}; python ${alloc.python}; ${launcher}`;
    }
    case 'hosts':
      return `${allocationLabel(alloc)} (${alloc.hosts.map(h => `${h.name}: ${h.slots} slots`).join(', ')}), mpirun on ${alloc.host.name}; python ${alloc.python}`;
    case 'slurm':
      return `${allocationLabel(alloc)}: ${alloc.nodes} nodes, ${alloc.tasks ?? alloc.nodes} tasks, srun from ${alloc.host.name}; python ${alloc.python}`;
    case 'pbs':
      return `${allocationLabel(alloc)}: ${alloc.nodes} nodes × ${alloc.ppn}, mpiexec on ${alloc.host.name}; python ${alloc.python}`;
  }
}

export interface LocalAllocationOptions { python: string; mpiexecPath?: string; slots?: number; oversubscribe?: boolean; maxRanksPerSlot?: number }

/** The MPI launcher on `host`, or why there is none: a missing MPI is recorded, not thrown. */
export async function findMpi(host: Host, mpiexecPath?: string): Promise<{ mpi: MpiInstall | null; mpiProblem?: string }> {
  try {
    return { mpi: await detectMpi(host, mpiexecPath || undefined) };
  } catch (err) {
    return { mpi: null, mpiProblem: (err as Error).message };
  }
}

/** Builds the local allocation, detecting MPI once. */
export async function localAllocation(host: Host, opts: LocalAllocationOptions): Promise<LocalAllocation> {
  const cpus = await host.cpuCount();
  return {
    kind: 'local',
    host,
    slots: opts.slots ?? cpus,
    ...(opts.slots !== undefined ? { cpus } : {}),
    oversubscribe: opts.oversubscribe ?? true,
    maxRanksPerSlot: opts.maxRanksPerSlot ?? DEFAULT_MAX_RANKS_PER_SLOT,
    python: opts.python,
    ...(await findMpi(host, opts.mpiexecPath)),
  };
}
