// A node of an allocation reached through the host distest launches on (the login node), the way the
// launcher reached it: `ssh NODE <quoted argv>` for host lists (mpirun's own ssh, with the login
// node's keys and ssh_config), `srun --jobid=J --overlap -w NODE -N1 -n1 argv` inside a Slurm job.
// Whatever could start the ranks can reach them again, and nothing needs credentials on this machine.
import { lookUpCommand, type CommandRunner, type ExecResult } from './host';
import { shellQuote } from './quote';

/** A node name that cannot be taken for an option or split by a shell. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class RelayedNode implements CommandRunner {
  private constructor(
    readonly name: string,
    private readonly via: CommandRunner,
    private readonly wrap: (argv: string[]) => string[],
  ) {}

  /** ssh runs its command through the remote login shell, so the argv travels as one quoted string. */
  static ssh(via: CommandRunner, node: string): RelayedNode {
    return new RelayedNode(node, via, argv => ['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', node, shellQuote(argv)]);
  }

  /** srun execs its argv directly; --overlap lets the step share the CPUs and memory the ranks hold. */
  static srun(via: CommandRunner, jobId: string, node: string): RelayedNode {
    return new RelayedNode(node, via, argv => ['srun', `--jobid=${jobId}`, '--overlap', '-w', node, '-N1', '-n1', '--quiet', ...argv]);
  }

  async exec(argv: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    if (!NODE_NAME.test(this.name)) {
      return { code: null, signal: null, stdout: '', stderr: `not reachable: ${JSON.stringify(this.name)} is not a host name distest passes to ${this.wrap([])[0]}` };
    }
    return this.via.exec(this.wrap(argv), opts);
  }

  /** The argv that runs `argv` on the node, to be run on the host it is reached through (a long-lived stream). */
  command(argv: string[]): string[] {
    return this.wrap(argv);
  }

  which(cmd: string): Promise<string | null> {
    return lookUpCommand(this, cmd);
  }
}
