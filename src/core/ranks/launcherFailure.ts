/** What a launcher said about one rank that ended badly. */
export interface LauncherFailure {
  rank: number;
  host?: string;
  pid?: number;
  /** Signal number, when it died of one. */
  signal?: number;
  /** The launcher's words for it, e.g. `Segmentation fault`. */
  description?: string;
  exitCode?: number;
}

/** srun names signals only in words. */
const SIGNAL_WORDS: Record<string, number> = {
  'Hangup': 1, 'Interrupt': 2, 'Quit': 3, 'Illegal instruction': 4, 'Trace/breakpoint trap': 5, 'Aborted': 6,
  'Bus error': 7, 'Floating point exception': 8, 'Killed': 9, 'Segmentation fault': 11, 'Terminated': 15,
};

/** `0-2,5` → [0, 1, 2, 5] */
function taskList(spec: string): number[] {
  return spec.split(',').flatMap(part => {
    const [from, to] = part.split('-').map(Number);
    if (!Number.isInteger(from)) return [];
    const last = Number.isInteger(to) && to >= from && to - from < 100000 ? to : from;
    return Array.from({ length: last - from + 1 }, (_, i) => from + i);
  });
}

/**
 * Failures named in a launcher's own output: OpenMPI's `mpirun noticed that process rank 1 with PID 123
 * on node x exited on signal 11 (Segmentation fault).` and its non-zero exit report, MPICH/Hydra's
 * `BAD TERMINATION` block, and srun's `srun: error: node: task 1: Segmentation fault`. One entry per
 * rank (the first report wins, later ones add what it lacked), in rank order.
 */
export function parseLauncherFailure(text: string): LauncherFailure[] {
  const byRank = new Map<number, LauncherFailure>();
  const add = (failure: LauncherFailure) => {
    const known = byRank.get(failure.rank);
    byRank.set(failure.rank, known ? { ...failure, ...known } : failure);
  };
  const clean = text.replace(/\r/g, '');

  for (const m of clean.matchAll(/process rank (\d+) with PID (\d+) on\s+node (\S+) exited on signal (\d+)(?: \(([^)\n]*)\))?/g)) {
    add({ rank: +m[1], pid: +m[2], host: m[3], signal: +m[4], ...(m[5] ? { description: m[5] } : {}) });
  }
  for (const m of clean.matchAll(/Process name:\s*\[\[\d+,\d+\],(\d+)\]\s*\n\s*Exit code:\s*(\d+)/g)) {
    add({ rank: +m[1], exitCode: +m[2] });
  }
  for (const m of clean.matchAll(/process rank (\d+) with PID (\d+) on\s+node (\S+) exiting improperly/g)) {
    add({ rank: +m[1], pid: +m[2], host: m[3] });
  }
  for (const m of clean.matchAll(/RANK (\d+) PID (\d+) RUNNING AT (\S+)\s*\n=\s*(?:KILLED BY SIGNAL: (\d+)(?: \(([^)\n]*)\))?|EXIT CODE: (\d+))/g)) {
    add({
      rank: +m[1], pid: +m[2], host: m[3],
      ...(m[4] ? { signal: +m[4] } : {}), ...(m[5] ? { description: m[5] } : {}), ...(m[6] ? { exitCode: +m[6] } : {}),
    });
  }
  for (const m of clean.matchAll(/^srun: error: (\S+): tasks? ([\d,-]+): (.+?)\s*$/gm)) {
    const what = m[3].replace(/ \(core dumped\)$/, '');
    const exit = /^Exited with exit code (\d+)$/.exec(what);
    for (const rank of taskList(m[2])) {
      add(exit ? { rank, host: m[1], exitCode: +exit[1] }
        : { rank, host: m[1], description: what, ...(SIGNAL_WORDS[what] ? { signal: SIGNAL_WORDS[what] } : {}) });
    }
  }
  return [...byRank.values()].sort((a, b) => a.rank - b.rank);
}

/** `exited on signal 11 (Segmentation fault)` / `exited with code 1` / `Killed`, for messages. */
export function describeLauncherFailure(failure: LauncherFailure): string {
  if (failure.signal !== undefined) {
    return `exited on signal ${failure.signal}${failure.description ? ` (${failure.description})` : ''}`;
  }
  if (failure.exitCode !== undefined) return `exited with code ${failure.exitCode}`;
  return failure.description ?? 'exited improperly';
}
