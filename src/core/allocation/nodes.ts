// Where a rank's process lives, as a place to run commands: the launching host itself, or a node of
// the allocation reached through it (relay.ts: ssh for host lists and PBS, srun inside a Slurm job).
// A pid means something only on its own node, so signals, gdb, the /proc probe, the core search and
// the sweep all go through here.
import type { Allocation } from './allocation';
import { Slurm } from './slurm';
import type { CommandRunner } from '../transport/host';
import { RelayedNode } from '../transport/relay';

/** Ranks of one node, with the runner that reaches it. */
export interface NodeRanks<T extends { host: string }> { node: CommandRunner; ranks: T[] }

const IP_ADDRESS = /^[\d.]+$|:/;

/** `n1` and `n1.cluster.example` are the same machine (hello records carry gethostname()). */
function sameHost(a: string, b: string): boolean {
  const short = (name: string) => (IP_ADDRESS.test(name) ? name : name.split('.')[0]);
  return a === b || short(a) === short(b);
}

export class AllocationNodes {
  private launcherName?: Promise<string | null>;
  private slurmNodes?: Promise<{ names: string[]; problem?: string }>;
  private readonly relays = new Map<string, CommandRunner>();
  private readonly gdbs = new Map<string, Promise<string | null>>();

  constructor(private readonly alloc: Allocation) {}

  /** The machine a rank whose hello named `host` runs on. */
  async of(host: string): Promise<CommandRunner> {
    if (await this.isLauncher(host)) return this.alloc.host;
    const name = await this.nodeName(host);
    let relay = this.relays.get(name);
    if (!relay) {
      const { alloc } = this;
      relay = alloc.kind === 'slurm' ? RelayedNode.srun(alloc.host, alloc.jobId, name) : RelayedNode.ssh(alloc.host, name);
      this.relays.set(name, relay);
    }
    return relay;
  }

  /** `items` grouped by the machine each one's host names, in first-seen order. */
  async byNode<T extends { host: string }>(items: T[]): Promise<NodeRanks<T>[]> {
    const groups = new Map<string, NodeRanks<T>>();
    for (const item of items) {
      const node = await this.of(item.host);
      let group = groups.get(node.name);
      if (!group) groups.set(node.name, (group = { node, ranks: [] }));
      group.ranks.push(item);
    }
    return [...groups.values()];
  }

  /**
   * Every machine of the allocation but the launching host, for the end-of-run sweep: the listed
   * hosts or the Slurm job's nodes, and wherever a rank said hello from (PBS lists no nodes here).
   */
  /**
   * Starts the lookups the end-of-run sweep and a hang capture need (the launching host's name, a Slurm
   * job's node list) while the tests run, so they cost nothing when the run ends.
   */
  prefetch(): void {
    if (this.alloc.kind === 'local') return;
    void this.launcherHostName();
    if (this.alloc.kind === 'slurm') void this.jobNodes().catch(() => undefined);
  }

  async everyNode(seen: Iterable<string>): Promise<{ nodes: CommandRunner[]; problems: string[] }> {
    const { alloc } = this;
    const problems: string[] = [];
    let listed: string[] = [];
    if (alloc.kind === 'hosts') listed = alloc.hosts.map(h => h.name);
    if (alloc.kind === 'slurm') {
      const job = await this.jobNodes();
      listed = job.names;
      if (job.problem) problems.push(`cannot list the nodes of Slurm job ${alloc.jobId}, so only nodes ranks ran on are swept: ${job.problem}`);
    }
    const nodes = new Map<string, CommandRunner>();
    for (const name of [...listed, ...seen]) {
      const node = await this.of(name);
      if (node !== alloc.host) nodes.set(node.name, node);
    }
    return { nodes: [...nodes.values()], problems };
  }

  /** gdb on that machine, looked up once per run. */
  gdb(node: CommandRunner): Promise<string | null> {
    let found = this.gdbs.get(node.name);
    if (!found) this.gdbs.set(node.name, (found = node.which('gdb')));
    return found;
  }

  private async isLauncher(host: string): Promise<boolean> {
    if (this.alloc.kind === 'local' || host === 'localhost' || /^127\./.test(host)) return true;
    const launcher = await this.launcherHostName();
    return launcher !== null && sameHost(host, launcher);
  }

  /** `uname -n` of the launching host, asked once per run; null when it cannot be asked. */
  private launcherHostName(): Promise<string | null> {
    const { host } = this.alloc;
    this.launcherName ??= host.nodeName
      ? Promise.resolve(host.nodeName())
      : host.exec(['uname', '-n'], { timeoutMs: 10_000 }).then(r => (r.code === 0 && r.stdout.trim()) || null, () => null);
    return this.launcherName;
  }

  /** The name the launcher knows the node by (the host list's, the job's), which ssh and srun -w accept. */
  private async nodeName(host: string): Promise<string> {
    const { alloc } = this;
    const known = alloc.kind === 'hosts' ? alloc.hosts.map(h => h.name) : alloc.kind === 'slurm' ? (await this.jobNodes()).names : [];
    return known.find(name => sameHost(name, host)) ?? host;
  }

  /** The Slurm job's nodes, expanded (`node[1-2]` → node1, node2), asked once per run. */
  private jobNodes(): Promise<{ names: string[]; problem?: string }> {
    const alloc = this.alloc;
    if (alloc.kind !== 'slurm') return Promise.resolve({ names: [] });
    this.slurmNodes ??= (async () => {
      try {
        const slurm = new Slurm(alloc.host);
        const job = await slurm.job(alloc.jobId);
        if (!job?.nodeList) return { names: [], problem: `job ${alloc.jobId} is not running` };
        return { names: await slurm.hostnames(job.nodeList) };
      } catch (err) {
        return { names: [], problem: (err as Error).message };
      }
    })();
    return this.slurmNodes;
  }
}
