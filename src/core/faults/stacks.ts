// Python stacks as faulthandler and gdb's py-bt print them, mapped to the user's files, and grouped by
// identical stack the way STAT does ("ranks 0, 2 wait at x.py:42; rank 1 at x.py:57").
import fs from 'node:fs';
import type { ProjectPaths } from '../projectPaths';
import { rankList } from '../ranks/aggregate';
import type { ResultMessage, StackFrame } from '../types';

/** One thread's frames, innermost first. */
export interface ThreadStack { current: boolean; frames: StackFrame[] }

/** One faulthandler dump: the threads it listed, and the fatal error that caused it (crashes only). */
export interface PythonDump { fatal?: string; threads: ThreadStack[] }

const FATAL = /^Fatal Python error: (.*)$/;
const THREAD = /^(Current thread|Thread) 0x[0-9a-f]+ (?:\[[^\]]*\] )?\(most recent call first\):$/;
// faulthandler: `  File "x.py", line 42 in f`; gdb py-bt and tracebacks: `  File "x.py", line 42, in f`.
const FRAME = /^\s*File "(.*)", line (\d+),? in (.+?)\s*$/;

/** The dumps in a rank's stderr lines, oldest first; anything else in between is ignored. */
export function parseFaulthandler(lines: string[]): PythonDump[] {
  const dumps: PythonDump[] = [];
  let dump: PythonDump | undefined;
  let thread: ThreadStack | undefined;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = FATAL.exec(line))) {
      dumps.push((dump = { fatal: m[1].trim(), threads: [] }));
      thread = undefined;
    } else if ((m = THREAD.exec(line))) {
      // A thread header right after another thread's frames belongs to the same dump.
      if (!dump || (dump.threads.length > 0 && !thread)) dumps.push((dump = { threads: [] }));
      dump.threads.push((thread = { current: m[1] === 'Current thread', frames: [] }));
    } else if ((m = FRAME.exec(line)) && thread) {
      thread.frames.push({ file: m[1], line: Number(m[2]), function: m[3] });
    } else if (line.trim() === '' || line.trim() === '<no Python frame>') {
      thread = undefined;
    } else {
      dump = undefined;
      thread = undefined;
    }
  }
  return dumps.filter(d => d.threads.some(t => t.frames.length) || d.fatal);
}

/** Frames of gdb's `py-bt` output (`File "x.py", line 42, in f`), innermost first as gdb prints them. */
export function parsePyBt(text: string): StackFrame[] {
  return text.split('\n').flatMap(line => {
    const m = FRAME.exec(line);
    return m ? [{ file: m[1], line: Number(m[2]), function: m[3] }] : [];
  });
}

/** The innermost frame in the user's code, as a workspace-relative location. */
export function innermostUserFrame(frames: StackFrame[], paths: ProjectPaths): StackFrame | undefined {
  for (const frame of frames) {
    const file = paths.workspaceFile(frame.file);
    if (file) return { ...frame, file };
  }
  return undefined;
}

/** The thread that tells where a rank is: the one in user code, preferring the thread that was interrupted. */
export function mainThread(dump: PythonDump, paths: ProjectPaths): ThreadStack | undefined {
  const inUserCode = dump.threads.filter(t => innermostUserFrame(t.frames, paths));
  return inUserCode.find(t => t.current) ?? inUserCode[0] ?? dump.threads.find(t => t.current) ?? dump.threads[0];
}

/** Ranks that share one stack. */
export interface StackGroup { ranks: number[]; frames: StackFrame[]; where?: StackFrame }

/** Groups ranks by identical frames (file, line, function), largest group first. */
export function groupStacks(stacks: Map<number, StackFrame[]>, paths: ProjectPaths): StackGroup[] {
  const groups = new Map<string, StackGroup>();
  for (const [rank, frames] of [...stacks].sort((a, b) => a[0] - b[0])) {
    const key = JSON.stringify(frames.map(f => [f.file, f.line, f.function]));
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { ranks: [], frames, where: innermostUserFrame(frames, paths) }));
    group.ranks.push(rank);
  }
  return [...groups.values()].sort((a, b) => b.ranks.length - a.ranks.length || a.ranks[0] - b.ranks[0]);
}

/** `comm.recv(source=other)`: the source line a frame stops at, read from the local copy of its file. */
export function sourceLine(paths: ProjectPaths, frame: StackFrame): string | undefined {
  try {
    const text = fs.readFileSync(paths.localPath(frame.file), 'utf8');
    return text.split('\n')[frame.line - 1]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `test_x() at tests/test_a.py:42: comm.recv(source=other)` */
export function describeFrame(paths: ProjectPaths, frame: StackFrame): string {
  const code = sourceLine(paths, frame);
  return `${frame.function}() at ${frame.file}:${frame.line}${code ? `: ${code}` : ''}`;
}

/** Up to `max` frames as a traceback, innermost last like Python prints them. */
export function formatStack(frames: StackFrame[], max = 12): string {
  const shown = frames.slice(0, max).reverse();
  const lines = shown.map(f => `  File "${f.file}", line ${f.line}, in ${f.function}`);
  if (frames.length > max) lines.unshift(`  ... ${frames.length - max} outer frames`);
  return lines.join('\n');
}

/** One message per group of ranks with the same stack, located at its innermost user frame. */
export function groupMessages(groups: StackGroup[], paths: ProjectPaths, verb: { one: string; many: string }, hostOf: (rank: number) => string | undefined): ResultMessage[] {
  return groups.map(group => {
    const hosts = [...new Set(group.ranks.map(hostOf).filter((h): h is string => !!h))];
    const on = hosts.length ? ` (${hosts.join(', ')})` : '';
    const inner = group.frames[0];
    const where = group.where ? `in ${describeFrame(paths, group.where)}`
      : inner ? `outside the workspace, in ${inner.function}() at ${inner.file}:${inner.line}` : 'with no Python frame';
    const text = `${rankList(group.ranks)}${on} ${group.ranks.length === 1 ? verb.one : verb.many} ${where}\n${formatStack(group.frames)}`;
    return {
      rank: group.ranks.length === 1 ? group.ranks[0] : null,
      text,
      ...(group.where ? { file: group.where.file, line: group.where.line } : {}),
    };
  });
}
