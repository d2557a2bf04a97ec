// Core files of crashed ranks: where the kernel puts them (core_pattern), which ones this run made
// (matched by pid, written after the launch started), and gdb's native and Python backtrace of each.
// A core the kernel wrote into the ranks' folder (a relative core_pattern, such as the default `core`)
// is moved into the run's own folder, `.distest/cores/<run>/core.rank<R>.pid<P>`, so that the project is
// not littered and a later crash cannot overwrite it; those folders are kept for the newest
// distest.logs.keepRuns runs. Cores an absolute core_pattern puts elsewhere stay where the system wants them.
import path from 'node:path';
import type { CommandRunner } from '../transport/host';
import type { Fault, StackFrame } from '../types';
import { describeFrame, formatStack, innermostUserFrame, parsePyBt } from './stacks';
import type { RankProcess } from './watchdog';
import type { ProjectPaths } from '../projectPaths';

export interface CoreSettings {
  /** Raise the ranks' soft core limit so a crash leaves a core. */
  enable: boolean;
  /** Cores analysed per run at most (each costs a gdb run); the rest are only counted. */
  maxPerRun: number;
  /** Runs whose cores are kept in the ranks' folder's `.distest/cores/` (distest.logs.keepRuns). */
  keepRuns: number;
}

/**
 * A run's own cores folder, under `.distest/cores/` of the ranks' folder: names sort by start time, and
 * hold only characters any file system and shell take, whatever run id a caller chose.
 */
export function runCoresFolder(runId: string, started = new Date()): string {
  return `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '')}-${runId.slice(0, 8).replace(/[^\w-]/g, '_')}`;
}

const GDB_TIMEOUT_MS = 60_000;
/** Native frames kept in a message; the core itself has them all. */
const MAX_NATIVE_FRAMES = 25;

/** Runs `argv` with the soft core size limit raised: argv stays argv, nothing is pasted into the script. */
export function withCoreLimit(argv: string[]): string[] {
  return ['/bin/sh', '-c', 'ulimit -Sc unlimited 2>/dev/null; exec "$@"', 'sh', ...argv];
}

export type CoreDestination =
  | { kind: 'file'; pattern: string; usesPid: boolean }
  | { kind: 'pipe'; handler: string; hint: string };

/** Reads the kernel's core_pattern (and core_uses_pid) on the host. */
export async function coreDestination(host: CommandRunner): Promise<CoreDestination | { kind: 'unknown'; why: string }> {
  const res = await host.exec(['cat', '/proc/sys/kernel/core_pattern', '/proc/sys/kernel/core_uses_pid'], { timeoutMs: 5000 });
  const [pattern, usesPid] = res.stdout.split('\n');
  if (res.code !== 0 || !pattern) return { kind: 'unknown', why: `cannot read /proc/sys/kernel/core_pattern on ${host.name}: ${res.stderr.trim()}` };
  return parseCorePattern(pattern.trim(), usesPid?.trim() === '1');
}

export function parseCorePattern(pattern: string, usesPid: boolean): CoreDestination {
  if (!pattern.startsWith('|')) return { kind: 'file', pattern, usesPid };
  const handler = path.basename(pattern.slice(1).trim().split(/\s+/)[0] ?? '');
  const hint = handler.includes('systemd-coredump') ? 'systemd-coredump keeps them: `coredumpctl list`, then `coredumpctl gdb <pid>`'
    : handler.includes('apport') ? 'apport keeps them under /var/crash (only for packaged programs unless configured)'
      : `they are piped to ${handler}`;
  return { kind: 'pipe', handler, hint };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regular expression for the core file names the pattern gives a process with this pid. */
export function coreNamePattern(dest: { pattern: string; usesPid: boolean }, pid: number): RegExp {
  const name = path.posix.basename(dest.pattern);
  let source = '';
  let hasPid = false;
  for (let i = 0; i < name.length; i++) {
    if (name[i] !== '%' || i + 1 >= name.length) {
      source += escapeRegExp(name[i]);
      continue;
    }
    const spec = name[++i];
    if (spec === 'p') {
      source += String(pid);
      hasPid = true;
    } else if (spec === '%') source += '%';
    else if ('PiIsugtcd'.includes(spec)) source += '\\d+';
    else source += '[^/]*';
  }
  // core_uses_pid appends `.PID` to patterns without %p.
  if (!hasPid && dest.usesPid) source += `\\.${pid}`;
  return new RegExp(`^${source}$`);
}

export interface CoreInput {
  /** The node the crashed ranks ran on, where their cores are. */
  host: CommandRunner;
  /** Python on the host (lists files), and the interpreter the ranks ran (gdb needs its binary). */
  python: string;
  gdb: string | null;
  /** Where the backtraces' files are, there and here. */
  paths: ProjectPaths;
  /** The ranks' working folder, where a relative pattern puts cores. */
  cwd: string;
  crashed: RankProcess[];
  signalOf: (rank: number) => string | undefined;
  /** Epoch ms: cores older than this are someone else's. */
  since: number;
  /** Shared across a run's launches, decremented per analysed core. */
  budget: { left: number; max: number };
  /** The run's cores folder (runCoresFolder) and how many runs' folders to keep. */
  keep: { run: string; runs: number };
}

/** Each analysed core with its message, and notes on the ranks whose core was not found or not read. */
export interface CoreReport { cores: { fault: Fault; text: string }[]; notes: string[] }

/** The signals whose default action dumps core (signal(7)); a rank stopped by SIGTERM or SIGKILL leaves none. */
export const CORE_SIGNALS = new Set(['SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGSYS', 'SIGXCPU', 'SIGXFSZ']);

const LIST_SCRIPT = `
import json, os, re, sys
folder, since, pattern = sys.argv[1], float(sys.argv[2]), re.compile(sys.argv[3])
found = []
try:
    for name in os.listdir(folder):
        full = os.path.join(folder, name)
        if pattern.match(name) and os.path.isfile(full) and os.stat(full).st_mtime >= since:
            found.append(full)
except OSError:
    pass
print(json.dumps(sorted(found)))
`;

/** Finds, keeps and analyses the cores the crashed ranks left; never deletes one of this run. */
export async function collectCores(input: CoreInput): Promise<CoreReport> {
  const report: CoreReport = { cores: [], notes: [] };
  if (!input.crashed.length) return report;
  const dest = await coreDestination(input.host);
  if (dest.kind === 'unknown') return { cores: [], notes: [dest.why] };
  if (dest.kind === 'pipe') return { cores: [], notes: [`core files are not written to disk on ${input.host.name} (core_pattern pipes them to ${dest.handler}): ${dest.hint}`] };
  const relative = !path.posix.isAbsolute(dest.pattern);
  const folder = relative ? path.posix.join(input.cwd, path.posix.dirname(dest.pattern)) : path.posix.dirname(dest.pattern);
  const hasPid = dest.usesPid || dest.pattern.includes('%p');
  const python = (await input.host.which(input.python)) ?? input.python;
  for (const rank of input.crashed) {
    const regex = coreNamePattern(dest, rank.pid);
    const listed = await input.host.exec([input.python, '-c', LIST_SCRIPT, folder, String(Math.floor(input.since / 1000) - 1), regex.source], { timeoutMs: 10_000 });
    let files: string[] = [];
    try {
      files = JSON.parse(listed.stdout) as string[];
    } catch {
      report.notes.push(`could not look for core files in ${folder} on ${input.host.name}: ${listed.stderr.trim()}`);
      continue;
    }
    if (!files.length) {
      report.notes.push(`no core file from rank ${rank.rank} (pid ${rank.pid}) in ${folder} on ${input.host.name} (core size limit 0, or the file was not writable)`);
      continue;
    }
    const found = files[files.length - 1];
    const notAnalysed = input.budget.left <= 0 ? `distest.cores.maxPerRun (${input.budget.max}) reached`
      : !input.gdb ? `gdb is not installed on ${input.host.name}` : undefined;
    let analysed: CoreAnalysis | undefined;
    if (input.gdb && !notAnalysed) {
      input.budget.left--;
      analysed = await analyseCore(input.host, input.gdb, python, found);
    }
    // A pattern without %p (plain `core`) is matched by the pid gdb reads from the core instead.
    if (analysed?.threads.length && !analysed.threads.includes(rank.pid)) {
      report.notes.push(`core ${found} is from pid ${analysed.threads[0]}, not rank ${rank.rank}'s ${rank.pid} (another crash overwrote it?)`);
      continue;
    }
    const whose = analysed || hasPid || input.crashed.length === 1 ? `core.rank${rank.rank}.pid${rank.pid}` : path.posix.basename(found);
    const core = relative ? await keepCore(input, found, whose, report.notes) : found;
    if (!analysed) {
      report.notes.push(`core ${core} of rank ${rank.rank} not analysed: ${notAnalysed}`);
      continue;
    }
    const where = innermostUserFrame(analysed.python, input.paths);
    const signal = analysed.signal ?? input.signalOf(rank.rank);
    const fault: Fault = {
      kind: 'core', rank: rank.rank, host: rank.host, core, stack: analysed.python, ...(signal ? { signal } : {}),
      ...(where ? { file: where.file, line: where.line } : {}),
    };
    const at = where ? `in ${describeFrame(input.paths, where)}` : 'outside the workspace';
    report.cores.push({
      fault,
      text: [`${signal ?? 'crash'} on rank ${rank.rank} (${rank.host}), core ${core}: ${at}`,
        analysed.python.length ? formatStack(analysed.python, 6) : '', 'native backtrace (gdb bt):', analysed.native].filter(Boolean).join('\n'),
    });
  }
  return report;
}

// Moves a core into the run's folder (a rename: same file system), writes `.distest/.gitignore` as pytest
// does for its cache, and removes the oldest run folders beyond the number kept. Prints the new path.
const KEEP_SCRIPT = `
import os, shutil, sys
core, cores, run, name, keep = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
folder = os.path.join(cores, run)
os.makedirs(folder, exist_ok=True)
ignore = os.path.join(os.path.dirname(cores), '.gitignore')
if not os.path.exists(ignore):
    with open(ignore, 'w') as f:
        f.write('# Created by distest automatically.\\n*\\n')
dest = os.path.join(folder, name)
os.replace(core, dest)
runs = sorted(d for d in os.listdir(cores) if d != run and os.path.isdir(os.path.join(cores, d)))
for old in runs[:max(0, len(runs) - (keep - 1))]:
    shutil.rmtree(os.path.join(cores, old), ignore_errors=True)
print(dest)
`;

/** The core's path in the run's cores folder; where it was, with a note, when it cannot be moved. */
async function keepCore(input: CoreInput, core: string, name: string, notes: string[]): Promise<string> {
  const cores = path.posix.join(input.cwd, '.distest', 'cores');
  const res = await input.host.exec([input.python, '-c', KEEP_SCRIPT, core, cores, input.keep.run, name, String(Math.max(1, input.keep.runs))], { timeoutMs: 30_000 });
  const kept = res.stdout.trim();
  if (res.code === 0 && kept) return kept;
  notes.push(`core ${core} stays where the kernel wrote it: it could not be moved to ${cores}/${input.keep.run} on ${input.host.name} (${res.stderr.trim().split('\n').pop() || `exit ${res.code}`})`);
  return core;
}

/** `threads`: the core's thread ids (the main thread's is the process id). */
export interface CoreAnalysis { threads: number[]; signal?: string; native: string; python: StackFrame[] }

export async function analyseCore(host: CommandRunner, gdb: string, python: string, core: string): Promise<CoreAnalysis> {
  const res = await host.exec([gdb, '-batch', '-ex', 'bt', '-ex', 'py-bt', python, core], { timeoutMs: GDB_TIMEOUT_MS });
  return parseGdbCore(res.stdout);
}

/** gdb's `bt` + `py-bt` output for a core: its threads, signal, native frames and Python frames. */
export function parseGdbCore(text: string): CoreAnalysis {
  const signal = /^Program terminated with signal (SIG\w+)/m.exec(text);
  const frames = text.split('\n').filter(l => /^#\d+\s/.test(l)).filter((l, i, all) => all.indexOf(l) === i);
  const native = frames.slice(0, MAX_NATIVE_FRAMES).map(l => (l.length > 200 ? `${l.slice(0, 200)}…` : l));
  if (frames.length > MAX_NATIVE_FRAMES) native.push(`… ${frames.length - MAX_NATIVE_FRAMES} more frames (gdb -batch -ex bt <python> <core>)`);
  const pyStart = text.indexOf('Traceback (most recent call first):');
  return {
    threads: [...text.matchAll(/^\[New LWP (\d+)\]/gm)].map(m => Number(m[1])),
    ...(signal ? { signal: signal[1] } : {}),
    native: native.join('\n'),
    python: pyStart >= 0 ? parsePyBt(text.slice(pyStart)) : [],
  };
}
