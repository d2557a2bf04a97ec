// A rank killed by a signal: which signal, on which host, and where in the user's code, from the
// launcher's report and the Python traceback faulthandler prints on the way down.
import os from 'node:os';
import type { LauncherFailure } from '../ranks/launcherFailure';
import type { Fault, ResultMessage } from '../types';
import type { RankStderr } from './capture';
import { describeFrame, formatStack, innermostUserFrame, mainThread, parseFaulthandler } from './stacks';
import type { RankProcess } from './watchdog';
import type { ProjectPaths } from '../projectPaths';

/** faulthandler's words for the signals it handles (`Fatal Python error: Segmentation fault`). */
const FATAL_SIGNALS: Record<string, string> = {
  'Segmentation fault': 'SIGSEGV', 'Aborted': 'SIGABRT', 'Bus error': 'SIGBUS', 'Floating point exception': 'SIGFPE',
  'Illegal instruction': 'SIGILL',
};

export function signalName(signal: number | string | undefined): string | undefined {
  if (typeof signal === 'string') return signal;
  if (signal === undefined) return undefined;
  return Object.entries(os.constants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
}

export interface CrashInput {
  /** Where the dumps' files are, there and here. */
  paths: ProjectPaths;
  /** Every rank that said hello, by rank. */
  processes: Map<number, RankProcess>;
  failures: LauncherFailure[];
  stderr: RankStderr;
  /** The rank count of the launch; with no launcher (one rank) the launch's own signal is rank 0's. */
  launchSignal?: string | null;
  singleRank: boolean;
}

export interface Crash { fault: Fault; message: ResultMessage }

/** One crash per rank that died of a signal (launcher report) or printed a fatal Python error. */
export function findCrashes(input: CrashInput): Crash[] {
  const ranks = new Set<number>([...input.processes.keys(), ...input.failures.map(f => f.rank)]);
  const crashes: Crash[] = [];
  for (const rank of [...ranks].sort((a, b) => a - b)) {
    const failure = input.failures.find(f => f.rank === rank);
    const dump = parseFaulthandler(input.stderr.since(rank)).filter(d => d.fatal).at(-1);
    const fromLauncher = signalName(failure?.signal) ?? (input.singleRank && rank === 0 ? input.launchSignal ?? undefined : undefined);
    const signal = fromLauncher ?? (dump?.fatal ? FATAL_SIGNALS[dump.fatal] : undefined);
    if (!signal) continue;
    const host = failure?.host ?? input.processes.get(rank)?.host ?? 'unknown host';
    const frames = dump ? mainThread(dump, input.paths)?.frames ?? [] : [];
    const where = innermostUserFrame(frames, input.paths);
    const fault: Fault = { kind: 'signal', rank, host, signal, stack: frames, ...(where ? { file: where.file, line: where.line } : {}) };
    const at = where ? ` in ${describeFrame(input.paths, where)}` : frames.length ? ' outside the workspace' : '';
    const fatal = dump?.fatal ? ` (Fatal Python error: ${dump.fatal})` : '';
    const stack = frames.length ? `\n${formatStack(frames)}` : '\nno Python traceback: the rank printed none before it died';
    crashes.push({
      fault,
      message: { rank, text: `${signal} on rank ${rank} (${host})${fatal}${at}${stack}`, ...(where ? { file: where.file, line: where.line } : {}) },
    });
  }
  return crashes;
}
