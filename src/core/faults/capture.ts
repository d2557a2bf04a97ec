// Stack capture of a hung launch, before anything is killed: SIGUSR1 to every rank on its own node
// (the agent's faulthandler prints all threads to that rank's stderr, which comes back through the
// launcher), gdb's py-bt for ranks that printed nothing, and a /proc probe for defunct children a
// rank is blocked waiting on.
import type { CommandRunner, ExecResult } from '../transport/host';
import type { Fault, ResultMessage, StackFrame } from '../types';
import type { AllocationNodes, NodeRanks } from '../allocation/nodes';
import { rankList } from '../ranks/aggregate';
import { groupMessages, groupStacks, mainThread, parseFaulthandler, parsePyBt } from './stacks';
import { RUN_ID_CHECK } from './sweep';
import type { RankProcess } from './watchdog';
import type { ProjectPaths } from '../projectPaths';

const MAX_LINES_PER_RANK = 5000;
/** How long the ranks get to print their stacks after SIGUSR1. */
const DUMP_WAIT_MS = 2500;
/** A dump is complete once its rank has been quiet this long. */
const DUMP_QUIET_MS = 250;
const GDB_TIMEOUT_MS = 20_000;
/** ssh or srun to a node, then Python: generous, but a dead node must not hold the kill up for long. */
const SIGNAL_TIMEOUT_MS = 15_000;
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
  /** Reaches each rank's node: a pid is only that node's. */
  nodes: Pick<AllocationNodes, 'byNode' | 'gdb'>;
  /** Python on the nodes (the ranks' own), for the signal and /proc probes. */
  python: string;
  /** Only processes carrying this run id are signalled or attached to: a stale pid may be anyone's. */
  runId: string;
  /** Where the stacks' files are, there and here. */
  paths: ProjectPaths;
  processes: RankProcess[];
  stderr: RankStderr;
  /**
   * Also attach gdb to one rank per group for its native stack (seconds per attach). Ranks whose Python
   * stack faulthandler could not give are always asked through gdb.
   */
  nativeStacks: boolean;
}

export interface Capture {
  /** One per rank, kind 'hang'. */
  faults: Fault[];
  /**
   * One per group of ranks with the same stack, then one per rank stuck on defunct children, then
   * one per node or rank that could not be signalled, then how the stacks were captured.
   */
  messages: ResultMessage[];
}

/** Ranks of one node that got SIGUSR1 (so they are alive, ours, and reachable for gdb and the probe). */
interface Signalled { node: CommandRunner; ranks: RankProcess[] }

export async function captureHang(input: CaptureInput): Promise<Capture> {
  const { stderr, paths } = input;
  const processes = [...input.processes].sort((a, b) => a.rank - b.rank);
  const mark = stderr.mark();
  const methods: string[] = [];
  const missing: string[] = [];
  const unsignalled: string[] = [];
  const stacks = new Map<number, StackFrame[]>();
  const signalled: Signalled[] = [];
  for (const outcome of await Promise.all((await input.nodes.byNode(processes)).map(group => signalRanks(group, input)))) {
    if (outcome.ranks.length) signalled.push({ node: outcome.node, ranks: outcome.ranks });
    unsignalled.push(...outcome.problems);
  }
  const reached = signalled.flatMap(s => s.ranks.map(p => ({ ...p, node: s.node })));
  // Independent of the stacks, so it runs while they are gathered (exec never rejects).
  const defunct = Promise.all(signalled.map(s => defunctChildren(s, input.python)));
  if (reached.length) {
    await waitForDumps(stderr, reached, mark);
    for (const p of reached) {
      const dump = parseFaulthandler(stderr.since(p.rank, mark)).at(-1);
      const thread = dump && mainThread(dump, paths);
      if (thread?.frames.length) stacks.set(p.rank, thread.frames);
    }
    if (stacks.size) methods.push(`Python stacks of ${rankList([...stacks.keys()])} from faulthandler (SIGUSR1)`);
  }
  const native = new Map<number, string[]>();
  const silent = reached.filter(p => !stacks.has(p.rank));
  const viaGdb = await Promise.all(silent.map(async p => {
    const gdb = await input.nodes.gdb(p.node);
    return gdb ? gdbStacks(p.node, gdb, p.pid) : { python: [], native: [] };
  }));
  silent.forEach((p, i) => {
    if (viaGdb[i].python.length) stacks.set(p.rank, viaGdb[i].python);
    if (viaGdb[i].native.length) native.set(p.rank, viaGdb[i].native);
  });
  const fromGdb = silent.filter(p => stacks.has(p.rank)).map(p => p.rank);
  if (fromGdb.length) methods.push(`Python stacks of ${rankList(fromGdb)} from gdb py-bt`);
  for (const { node, ranks } of signalled) {
    const unknown = ranks.filter(p => !stacks.has(p.rank)).map(p => p.rank);
    if (!unknown.length) continue;
    const gdb = await input.nodes.gdb(node);
    missing.push(`no stack for ${rankList(unknown)} on ${node.name}: faulthandler printed nothing (a user SIGUSR1 handler, or stuck outside Python)` +
      (gdb ? ' and gdb could not attach (ptrace not allowed?)' : `; gdb is not installed on ${node.name}, so no native stack either`));
  }
  if (!processes.length) missing.push('no rank said hello, so there were no pids to signal');

  const hostOf = (rank: number) => processes.find(p => p.rank === rank)?.host;
  const groups = groupStacks(stacks, paths);
  const messages = groupMessages(groups, paths, { one: 'waits', many: 'wait' }, hostOf);
  // One gdb attach per group (not per rank): ranks with the same Python stack wait in the same MPI call.
  const representatives = !input.nativeStacks ? [] : groups.map(g => reached.find(p => p.rank === (g.ranks.find(r => native.has(r)) ?? g.ranks[0])));
  await Promise.all(representatives.map(async p => {
    const gdb = p && !native.has(p.rank) ? await input.nodes.gdb(p.node) : null;
    if (p && gdb) native.set(p.rank, (await gdbStacks(p.node, gdb, p.pid)).native);
  }));
  representatives.forEach((p, i) => {
    const frames = (p && native.get(p.rank)) ?? [];
    if (p && frames.length) messages[i].text += `\nnative stack of rank ${p.rank} (gdb, main thread):\n${frames.join('\n')}`;
  });
  if (representatives.some(p => p && native.get(p.rank)?.length)) methods.push('native stacks from gdb -p (one rank per group)');
  const faults: Fault[] = processes.map(p => {
    const group = groups.find(g => g.ranks.includes(p.rank));
    return {
      kind: 'hang', rank: p.rank, host: p.host, stack: group?.frames ?? [],
      ...(group?.where ? { file: group.where.file, line: group.where.line } : {}),
    };
  });
  for (const text of (await defunct).flat()) messages.push({ rank: null, text });
  for (const text of unsignalled) messages.push({ rank: null, text });
  messages.push({ rank: null, text: [...methods, ...missing].join('; ') || 'no stack capture was possible' });
  return { faults, messages };
}

/** SIGUSR1 to each pid that is alive and carries the run id; prints {pid: "sent" or why not}. */
const SIGNAL_SCRIPT = `
import json, os, signal, sys
${RUN_ID_CHECK}
out = {}
for pid in sys.argv[2:]:
    try:
        if ours(pid):
            os.kill(int(pid), signal.SIGUSR1)
            out[pid] = "sent"
        else:
            out[pid] = "pid %s there is not a process of this run" % pid
    except FileNotFoundError:
        out[pid] = "pid %s is gone" % pid
    except OSError as e:
        out[pid] = "pid %s: %s" % (pid, e.strerror)
print(json.dumps(out))
`;

/** Signals the node's ranks; those it reached, and a problem per node it could not reach or rank it could not signal. */
async function signalRanks({ node, ranks }: NodeRanks<RankProcess>, input: CaptureInput): Promise<Signalled & { problems: string[] }> {
  const res = await node.exec([input.python, '-c', SIGNAL_SCRIPT, input.runId, ...ranks.map(p => String(p.pid))], { timeoutMs: SIGNAL_TIMEOUT_MS });
  let outcome: Record<string, string>;
  try {
    outcome = JSON.parse(res.stdout) as Record<string, string>;
  } catch {
    return { node, ranks: [], problems: [`stacks unavailable for ${rankList(ranks.map(p => p.rank))} on ${node.name}: ${failureText(res)}`] };
  }
  const said = (p: RankProcess) => outcome[String(p.pid)] ?? 'no answer';
  return {
    node,
    ranks: ranks.filter(p => said(p) === 'sent'),
    problems: ranks.filter(p => said(p) !== 'sent').map(p => `stack unavailable for rank ${p.rank} on ${node.name}: SIGUSR1 not sent (${said(p)})`),
  };
}

/** The last lines of what a failed command said, for a message. */
function failureText(res: ExecResult): string {
  return res.stderr.trim().split('\n').slice(-3).join(' / ') || (res.signal ? `killed by ${res.signal}` : `exit code ${res.code}`);
}

async function waitForDumps(stderr: RankStderr, ranks: RankProcess[], mark: number): Promise<void> {
  const deadline = Date.now() + DUMP_WAIT_MS;
  const done = () => ranks.every(p => parseFaulthandler(stderr.since(p.rank, mark)).length > 0);
  while (Date.now() < deadline) {
    if (done() && stderr.quietFor() >= DUMP_QUIET_MS) return;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

async function gdbStacks(node: CommandRunner, gdb: string, pid: number): Promise<{ python: StackFrame[]; native: string[] }> {
  const res = await node.exec([gdb, '-p', String(pid), '-batch', '-ex', 'thread apply 1 bt', '-ex', 'py-bt'], { timeoutMs: GDB_TIMEOUT_MS });
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
async function defunctChildren({ node, ranks }: Signalled, python: string): Promise<string[]> {
  const res = await node.exec([python, '-c', PROBE_SCRIPT, ...ranks.map(p => String(p.pid))], { timeoutMs: 10_000 });
  let probed: Record<string, ProbedProcess>;
  try {
    probed = JSON.parse(res.stdout) as Record<string, ProbedProcess>;
  } catch {
    return [`could not look for defunct children on ${node.name}: ${failureText(res)}`];
  }
  const texts: string[] = [];
  for (const p of ranks) {
    const me = probed[String(p.pid)];
    const zombies = (me?.children ?? []).filter(c => c.state === 'Z');
    if (!me || !zombies.length) continue;
    const waiting = me.wchan === 'do_wait' || me.wchan?.includes('wait') ? ` is blocked in wait (${me.wchan}) and` : '';
    const list = zombies.map(z => `${z.pid} (${z.name})`).join(', ');
    texts.push(`rank ${p.rank} (pid ${p.pid}, ${p.host})${waiting} has ${zombies.length} defunct ${zombies.length === 1 ? 'child' : 'children'} it never reaped: ${list}`);
  }
  return texts;
}
