/**
 * Where a run goes, as the user names it: the picker stores it per workspace and the CLI takes it as
 * `--allocation SPEC`. Grammar: `[LOGIN/]KIND[:ARG]`
 *   local                        this machine
 *   hosts:node1,node2:4          SSH hosts (optional `:slots` each; else settings or nproc)
 *   slurm:1234 | slurm:new       a running Slurm allocation, or a new one (salloc --no-shell)
 *   pbs:5678.server | pbs:new    a PBS job holding nodes, or a new one
 * LOGIN is an SSH host (a ~/.ssh/config alias) where the scheduler commands run; absent: this machine.
 */
export interface HostSlotsSpec { name: string; slots?: number }

export type AllocationSpec =
  | { kind: 'local' }
  | { kind: 'hosts'; login?: string; hosts: HostSlotsSpec[] }
  | { kind: 'slurm'; login?: string; jobId: string | 'new' }
  | { kind: 'pbs'; login?: string; jobId: string | 'new' };

export class AllocationSpecError extends Error {}

// Host names and ssh_config aliases: no spaces, quotes, shell or URL syntax; they end up in argv.
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
// Slurm: 1234, array element 1234_7, heterogeneous component 1234+1.
const SLURM_JOB = /^\d+(?:_\d+|\+\d+)?$/;
// PBS: 1234 or 1234.server.domain, array 1234[].server.
const PBS_JOB = /^\d+(?:\[\d*\])?(?:\.[A-Za-z0-9_.-]+)?$/;

export function parseAllocationSpec(text: string): AllocationSpec {
  const spec = text.trim();
  if (!spec) throw new AllocationSpecError('empty allocation: use local, hosts:NODE[,NODE...], slurm:JOBID|new or pbs:JOBID|new');
  const slash = spec.indexOf('/');
  const login = slash >= 0 ? spec.slice(0, slash) : undefined;
  const rest = slash >= 0 ? spec.slice(slash + 1) : spec;
  if (login !== undefined && !HOST.test(login)) throw new AllocationSpecError(`"${login}" is not a valid login host name`);
  const colon = rest.indexOf(':');
  const kind = colon >= 0 ? rest.slice(0, colon) : rest;
  const arg = colon >= 0 ? rest.slice(colon + 1) : undefined;
  const withLogin = login ? { login } : {};

  switch (kind) {
    case 'local':
      if (arg !== undefined || login) throw new AllocationSpecError('"local" takes no login host and no argument');
      return { kind: 'local' };
    case 'hosts':
      return { kind: 'hosts', ...withLogin, hosts: parseHostList(arg) };
    case 'slurm':
    case 'pbs': {
      const pattern = kind === 'slurm' ? SLURM_JOB : PBS_JOB;
      if (!arg) throw new AllocationSpecError(`${kind} needs a job id or "new", e.g. ${kind}:new`);
      if (arg !== 'new' && !pattern.test(arg)) throw new AllocationSpecError(`"${arg}" is not a ${kind === 'slurm' ? 'Slurm' : 'PBS'} job id`);
      return { kind, ...withLogin, jobId: arg };
    }
    default:
      throw new AllocationSpecError(`unknown allocation kind "${kind}": use local, hosts, slurm or pbs`);
  }
}

function parseHostList(arg: string | undefined): HostSlotsSpec[] {
  if (!arg) throw new AllocationSpecError('hosts needs at least one host, e.g. hosts:node1,node2');
  return arg.split(',').map(entry => {
    const [name, slots, extra] = entry.split(':');
    if (extra !== undefined || !HOST.test(name ?? '')) throw new AllocationSpecError(`"${entry}" is not HOST or HOST:SLOTS`);
    if (slots === undefined) return { name };
    const count = Number(slots);
    if (!Number.isInteger(count) || count < 1) throw new AllocationSpecError(`"${entry}": slots must be a whole number of at least 1`);
    return { name, slots: count };
  });
}

export function formatAllocationSpec(spec: AllocationSpec): string {
  if (spec.kind === 'local') return 'local';
  const prefix = spec.login ? `${spec.login}/` : '';
  if (spec.kind === 'hosts') return `${prefix}hosts:${spec.hosts.map(h => (h.slots ? `${h.name}:${h.slots}` : h.name)).join(',')}`;
  return `${prefix}${spec.kind}:${spec.jobId}`;
}

/** Whether two specs name the same allocation. */
export function sameAllocationSpec(a: AllocationSpec, b: AllocationSpec): boolean {
  return formatAllocationSpec(a) === formatAllocationSpec(b);
}
