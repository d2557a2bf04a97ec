import type { Host } from '../transport/host';
import { detectMpi, type MpiInstall } from './mpi';

/** The machine the tests run on, with what a launch plan needs to know about it. */
export interface LocalAllocation {
  kind: 'local';
  host: Host;
  /** Ranks that fit without oversubscribing; defaults to the host's CPU count. */
  slots: number;
  /** Whether to pass --oversubscribe when a test needs more ranks than slots. */
  oversubscribe: boolean;
  python: string;
  /** Null when no MPI launcher was found; `mpiProblem` then says why. */
  mpi: MpiInstall | null;
  mpiProblem?: string;
}

// 'hosts' (ssh host list), 'slurm' and 'pbs' allocations join this union as they land.
export type Allocation = LocalAllocation;

export interface LocalAllocationOptions { python: string; mpiexecPath?: string; slots?: number; oversubscribe?: boolean }

/** Builds the local allocation, detecting MPI once; a missing MPI is recorded, not thrown. */
export async function localAllocation(host: Host, opts: LocalAllocationOptions): Promise<LocalAllocation> {
  let mpi: MpiInstall | null = null;
  let mpiProblem: string | undefined;
  try {
    mpi = await detectMpi(host, opts.mpiexecPath || undefined);
  } catch (err) {
    mpiProblem = (err as Error).message;
  }
  return {
    kind: 'local',
    host,
    slots: opts.slots ?? (await host.cpuCount()),
    oversubscribe: opts.oversubscribe ?? true,
    python: opts.python,
    mpi,
    mpiProblem,
  };
}
