import type { Host, StreamOptions } from '../transport/host';

/** A scheduler command failed or printed something distest cannot read; the message names the command. */
export class SchedulerError extends Error {
  constructor(
    readonly command: string,
    detail: string,
  ) {
    super(`${command}: ${detail}`);
    this.name = 'SchedulerError';
  }
}

/** A node name as schedulers print them, which ssh, `srun -w` and `mpirun --host` take as one plain word. */
export function isNodeName(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(text);
}

/** Runs a scheduler query; a non-zero exit becomes a SchedulerError quoting stderr. */
export async function query(host: Host, argv: string[], opts: StreamOptions = {}): Promise<string> {
  const res = await host.exec(argv, { ...opts, timeoutMs: 60_000 });
  if (res.code !== 0) {
    const why = res.stderr.trim().split('\n').slice(-3).join(' / ') || (res.signal ? `killed by ${res.signal}` : `exit code ${res.code}`);
    throw new SchedulerError(argv.join(' '), `failed on ${host.name}: ${why}`);
  }
  return res.stdout;
}

/** JSON.parse that reports garbage as the command's fault, not as a crash. */
export function parseJsonOutput(command: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SchedulerError(command, `printed output that is not JSON (${(err as Error).message}): ${text.slice(0, 120)}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A name for jobs distest creates, so users (and distest) can tell them apart. */
export function distestJobName(): string {
  return `distest-${Date.now().toString(36)}`;
}
