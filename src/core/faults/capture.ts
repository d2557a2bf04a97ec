// Stack capture of a hung launch, before anything is killed: SIGUSR1 to every rank (the agent's
// faulthandler prints all threads to that rank's stderr), gdb's py-bt for ranks that printed nothing,
// and a /proc probe for defunct children a rank is blocked waiting on.
import type { Host } from '../transport/host';
import type { Fault, ResultMessage, StackFrame } from '../types';
import { groupMessages, groupStacks, mainThread, parseFaulthandler, parsePyBt, rankList } from './stacks';
import type { RankProcess } from './watchdog';

const MAX_LINES_PER_RANK = 5000;
/** How long the ranks get to print their stacks after SIGUSR1. */
const DUMP_WAIT_MS = 2500;
/** A dump is complete once its rank has been quiet this long. */
const DUMP_QUIET_MS = 250;
const GDB_TIMEOUT_MS = 20_000;
/** Innermost native frames of the main thread shown per group. */
const NATIVE_FRAMES = 10;

/** Each rank's stderr lines, numbered, so a capture can read what came after its signal. */
export class RankStderr {
  private readonly lines = new Map<number, { seq: number; text: string }[]>();
  private seq = 0;
  private lastAt = 0;

  push(rank: number, text: string): void {
    let list = this.lines.get(rank);
    if (!list) this.lines.set(rank, (list = []));
    list.push({ seq: this.seq++, text });
    if (list.length > MAX_LINES_PER_RANK) list.splice(0, list.length - MAX_LINES_PER_RANK);
    this.lastAt = Date.now();
  }

  mark(): number {
    return this.seq;
  }

  since(rank: number, mark = 0): string[] {
    return (this.lines.get(rank) ?? []).filter(l => l.seq >= mark).map(l => l.text);
  }

  quietFor(): number {
    return Date.now() - this.lastAt;
  }
}

export interface CaptureInput {
  host: Host;
  /** Python on the host, for the /proc probe. */
  python: string;
  root: string;
  processes: RankProcess[];
  stderr: RankStderr;
  /** gdb on the host, or null when it is not installed. */
  gdb: string | null;
}

export interface Capture {
  /** One per rank, kind 'hang'. */
  faults: Fault[];
  /** One per group of ranks with the same stack, then one per rank stuck on defunct children, then how. */
  messages: ResultMessage[];
}

export async function captureHang(input: CaptureInput): Promise<Capture> {
  const { host, stderr, root } = input;
  const processes = [...input.processes].sort((a, b) => a.rank - b.rank);
  const mark = stderr.mark();
  const pids = processes.map(p => p.pid);
  const methods: string[] = [];
  const missing: string[] = [];
  const stacks = new Map<number, StackFrame[]>();
  if (pids.length) {
    const sent = await host.exec(['kill', '-USR1', ...pids.map(String)], { timeoutMs: 5000 });
    if (sent.code !== 0) missing.push(`SIGUSR1 not delivered to every rank (${sent.stderr.trim()})`);
    await waitForDumps(input, mark);
    for (const p of processes) {
      const dump = parseFaulthandler(stderr.since(p.rank, mark)).at(-1);
      const thread = dump && mainThread(dump, root);
      if (thread?.frames.length) stacks.set(p.rank, thread.frames);
    }
    if (stacks.size) methods.push(`Python stacks of ${rankList([...stacks.keys()])} from faulthandler (SIGUSR1)`);
  }
  const silent = processes.filter(p => !stacks.has(p.rank));
  const native = new Map<number, string[]>();
  if (silent.length && input.gdb) {
    const viaGdb = await Promise.all(silent.map(p => gdbStacks(host, input.gdb as string, p.pid)));
    silent.forEach((p, i) => {
      if (viaGdb[i].python.length) stacks.set(p.rank, viaGdb[i].python);
      if (viaGdb[i].native.length) native.set(p.rank, viaGdb[i].native);
    });
    const got = silent.filter(p => stacks.has(p.rank)).map(p => p.rank);
    if (got.length) methods.push(`Python stacks of ${rankList(got)} from gdb py-bt`);
  }
  const unknown = processes.filter(p => !stacks.has(p.rank)).map(p => p.rank);
  if (unknown.length) {
    missing.push(`no stack for ${rankList(unknown)}: faulthandler printed nothing (a user SIGUSR1 handler, or stuck outside Python)` +
      (input.gdb ? ' and gdb could not attach (ptrace not allowed?)' : '; gdb is not installed, so no native stack either'));
  }
  if (!processes.length) missing.push('no rank said hello, so there were no pids to signal');

  const hostOf = (rank: number) => processes.find(p => p.rank === rank)?.host;
  const groups = groupStacks(stacks, root);
  const messages = groupMessages(groups, root, { one: 'waits', many: 'wait' }, hostOf);
  // One gdb attach per group (not per rank): ranks with the same Python stack wait in the same MPI call.
  if (input.gdb) {
    const representatives = groups.map(g => g.ranks.find(r => native.has(r)) ?? g.ranks[0]);
    await Promise.all(representatives.map(async rank => {
      const pid = processes.find(p => p.rank === rank)?.pid;
      if (pid !== undefined && !native.has(rank)) native.set(rank, (await gdbStacks(host, input.gdb as string, pid)).native);
    }));
    representatives.forEach((rank, i) => {
      const frames = native.get(rank) ?? [];
      if (frames.length) messages[i].text += `\nnative stack of rank ${rank} (gdb, main thread):\n${frames.join('\n')}`;
    });
    if (representatives.some(r => native.get(r)?.length)) methods.push('native stacks from gdb -p (one rank per group)');
  }
  const faults: Fault[] = processes.map(p => {
    const group = groups.find(g => g.ranks.includes(p.rank));
    return {
      kind: 'hang', rank: p.rank, host: p.host, stack: group?.frames ?? [],
      ...(group?.where ? { file: group.where.file, line: group.where.line } : {}),
    };
  });
  for (const text of await defunctChildren(input)) messages.push({ rank: null, text });
  messages.push({ rank: null, text: [...methods, ...missing].join('; ') || 'no stack capture was possible' });
  return { faults, messages };
}

async function waitForDumps(input: CaptureInput, mark: number): Promise<void> {
  const deadline = Date.now() + DUMP_WAIT_MS;
  const done = () => input.processes.every(p => parseFaulthandler(input.stderr.since(p.rank, mark)).length > 0);
  while (Date.now() < deadline) {
    if (done() && input.stderr.quietFor() >= DUMP_QUIET_MS) return;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

async function gdbStacks(host: Host, gdb: string, pid: number): Promise<{ python: StackFrame[]; native: string[] }> {
  const res = await host.exec([gdb, '-p', String(pid), '-batch', '-ex', 'thread apply 1 bt', '-ex', 'py-bt'], { timeoutMs: GDB_TIMEOUT_MS });
  return { python: parsePyBt(res.stdout), native: mainThreadFrames(res.stdout) };
}

/** The innermost frames of gdb's `thread apply 1 bt`, each cut to a readable length. */
export function mainThreadFrames(text: string): string[] {
  const frames = text.split('\n').filter(l => /^#\d+\s/.test(l));
  return frames.slice(0, NATIVE_FRAMES).map(l => (l.length > 160 ? `${l.slice(0, 160)}…` : l));
}

/** Reads each rank's state, wait channel and children from /proc on its host; stdlib only. */
const PROBE_SCRIPT = `
import json, os, sys
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
def stat(pid):
    s = read("/proc/%s/stat" % pid)
    return None if s is None else {"pid": int(pid), "name": s[s.index("(") + 1:s.rindex(")")], "state": s[s.rindex(")") + 2]}
out = {}
for pid in sys.argv[1:]:
    me = stat(pid)
    if me is None:
        continue
    me["wchan"] = (read("/proc/%s/wchan" % pid) or "").strip()
    kids = set()
    for tid in os.listdir("/proc/%s/task" % pid) if os.path.isdir("/proc/%s/task" % pid) else []:
        kids.update((read("/proc/%s/task/%s/children" % (pid, tid)) or "").split())
    me["children"] = [k for k in (stat(kid) for kid in sorted(kids, key=int)) if k]
    out[pid] = me
print(json.dumps(out))
`;

interface ProbedProcess { pid: number; name: string; state: string; wchan?: string; children?: ProbedProcess[] }

/** `rank 0 (pid 12, host) is blocked in wait (do_wait) with 2 defunct children: 15 (python3), 16 (python3)` */
async function defunctChildren(input: CaptureInput): Promise<string[]> {
  if (!input.processes.length) return [];
  const res = await input.host.exec([input.python, '-c', PROBE_SCRIPT, ...input.processes.map(p => String(p.pid))], { timeoutMs: 10_000 });
  let probed: Record<string, ProbedProcess>;
  try {
    probed = JSON.parse(res.stdout) as Record<string, ProbedProcess>;
  } catch {
    return [`could not look for defunct children: ${res.stderr.trim() || 'the /proc probe printed nothing'}`];
  }
  const texts: string[] = [];
  for (const p of input.processes) {
    const me = probed[String(p.pid)];
    const zombies = (me?.children ?? []).filter(c => c.state === 'Z');
    if (!me || !zombies.length) continue;
    const waiting = me.wchan === 'do_wait' || me.wchan?.includes('wait') ? ` is blocked in wait (${me.wchan}) and` : '';
    const list = zombies.map(z => `${z.pid} (${z.name})`).join(', ');
    texts.push(`rank ${p.rank} (pid ${p.pid}, ${p.host})${waiting} has ${zombies.length} defunct ${zombies.length === 1 ? 'child' : 'children'} it never reaped: ${list}`);
  }
  return texts;
}
