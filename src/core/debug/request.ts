// What a Debug run asks of the ranks, and what it hands a debugger: the seam between core (which starts
// debugpy in the ranks and relays its DAP port to this machine) and the front-ends (the editor's
// `distest-rank` debug sessions, the CLI's endpoint lines).

/** A Debug run: the ranks to put under debugpy, how long they wait for a client, and break on failure. */
export interface DebugRequest {
  /** `all`, or the world ranks (sorted, distinct) that get a debugger; the others run without one. */
  ranks: 'all' | number[];
  /** A debugged rank waits this long for a client (configurationDone), then runs on without one. */
  waitSeconds: number;
  /**
   * Failed assertions and uncaught exceptions stop the rank where they happen: the client sets
   * debugpy's `uncaught` and `userUnhandled` exception filters (setExceptionBreakpoints) when true.
   */
  breakOnFailure: boolean;
}

/** One debugged rank, reachable from this machine. Emitted as soon as the rank's debugpy listens. */
export interface DebugEndpoint {
  /** Unique per launch of the run (`<run>-<step>`): the ranks of one mpirun/srun. */
  launchId: string;
  /** The tests that launch runs, in order. */
  testIds: string[];
  rank: number;
  /** World size of the launch. */
  size: number;
  /** The node the rank runs on (its gethostname()). */
  node: string;
  /** Where a DAP client connects: always loopback of this machine (a relay core owns). */
  host: string;
  port: number;
  /** The rank's pid on its node. */
  pid: number;
  /** The project where the ranks run → the local folder (identity when they are the same). */
  pathMappings: { localRoot: string; remoteRoot: string }[];
  /** The request's breakOnFailure, so a client sets its exception filters accordingly. */
  breakOnFailure: boolean;
}

/** Thrown for a rank selection that is not `all` or a list of ranks and ranges. */
export class RankSelectionError extends Error {}

/** `all` → 'all'; `0`, `0,2-3`, ` 1 , 4-5 ` → sorted distinct ranks. Throws a RankSelectionError otherwise. */
export function parseRankSelection(text: string): 'all' | number[] {
  const trimmed = text.trim();
  if (trimmed === 'all' || trimmed === '*') return 'all';
  if (trimmed === '') throw new RankSelectionError('no ranks given: use `all` or a list like `0,2-3`');
  const ranks = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new RankSelectionError(`${JSON.stringify(part.trim())} is not a rank or a range of ranks (use \`all\` or a list like \`0,2-3\`)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new RankSelectionError(`${part.trim()}: a range goes from the lower rank to the higher`);
    if (to - from > 100_000) throw new RankSelectionError(`${part.trim()}: too many ranks`);
    for (let r = from; r <= to; r++) ranks.add(r);
  }
  return [...ranks].sort((a, b) => a - b);
}

/** The selection as the agent reads it (DISTEST_DEBUG_RANKS) and a user writes it: `all`, `0,2-3`. */
export function formatRankSelection(ranks: 'all' | number[]): string {
  if (ranks === 'all') return 'all';
  const parts: string[] = [];
  for (let i = 0; i < ranks.length; i++) {
    let j = i;
    while (j + 1 < ranks.length && ranks[j + 1] === ranks[j] + 1) j++;
    parts.push(j > i ? `${ranks[i]}-${ranks[j]}` : `${ranks[i]}`);
    i = j;
  }
  return parts.join(',');
}

/** Whether `rank` is among the selected ones. */
export function selectsRank(ranks: 'all' | number[], rank: number): boolean {
  return ranks === 'all' || ranks.includes(rank);
}
