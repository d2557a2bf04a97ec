import type { Host } from '../transport/host';

export type MpiFlavour = 'openmpi' | 'mpich' | 'intel' | 'unknown';

export interface MpiInstall { path: string; flavour: MpiFlavour; version: string }

/** Reads `mpirun --version` / `mpiexec --version` output of the MPI implementations distest knows. */
export function parseMpiVersion(output: string): { flavour: MpiFlavour; version: string } {
  const openmpi = /\((?:Open MPI|OpenRTE)\)\s+(\S+)/.exec(output);
  if (openmpi) return { flavour: 'openmpi', version: openmpi[1] };
  const intel = /Intel\(R\) MPI Library[^\n]*?Version\s+(\S+)/i.exec(output);
  if (intel) return { flavour: 'intel', version: intel[1] };
  // MPICH's Hydra prints "HYDRA build details:" and an indented "Version: 4.0.2"; MVAPICH uses Hydra too.
  const hydra = /HYDRA build details:[\s\S]*?^\s*Version:\s+(\S+)/m.exec(output);
  if (hydra) return { flavour: 'mpich', version: hydra[1] };
  const firstLine = output.trim().split('\n')[0] ?? '';
  return { flavour: 'unknown', version: firstLine.trim() };
}

/**
 * Finds the MPI launcher on `host`: the configured path first, else `mpirun` then `mpiexec` on PATH.
 * Throws an Error whose message tells the user what to install or set.
 */
export async function detectMpi(host: Host, preferred?: string): Promise<MpiInstall> {
  const candidates = preferred ? [preferred] : ['mpirun', 'mpiexec'];
  for (const candidate of candidates) {
    const found = await host.which(candidate);
    if (!found) continue;
    const res = await host.exec([found, '--version'], { timeoutMs: 15_000 });
    const parsed = parseMpiVersion(`${res.stdout}\n${res.stderr}`);
    return { path: found, ...parsed };
  }
  if (preferred) throw new Error(`distest.mpiexecPath is ${preferred}, which is not an executable on ${host.name}`);
  throw new Error(`no mpirun or mpiexec found on ${host.name}; install OpenMPI (apt install openmpi-bin) or set distest.mpiexecPath`);
}
