// The last line of cleanup: after the launcher's tree is gone, any process still carrying this run's
// id (a daemon a test detached, a child reparented to init) is killed. Runs on every node of the
// allocation (nodes.ts) as a small stdlib Python program, so it works wherever the ranks ran; this
// machine, whose /proc this process reads, is swept from here (LocalHost.killCarrying).
import type { CommandRunner, KilledProcess } from '../transport/host';

/** Set in every launch's environment and never removed (the agent drops DISTEST_TOKEN from its own). */
export const RUN_ID_VARIABLE = 'DISTEST_RUN_ID';

/**
 * Python (stdlib, needs `sys`): `ours(pid)` says whether /proc/PID/environ carries the run id given as
 * sys.argv[1]; raises OSError when the process is gone or unreadable. Nothing is signalled without it.
 */
export const RUN_ID_CHECK = `
wanted = ("${RUN_ID_VARIABLE}=" + sys.argv[1]).encode()
def ours(pid):
    with open("/proc/%s/environ" % pid, "rb") as f:
        return wanted in f.read().split(b"\\0")
`;

export interface SweepResult { host: string; killed: KilledProcess[]; problem?: string }

const SWEEP_SCRIPT = `
import json, os, signal, sys, time
${RUN_ID_CHECK}
spared = (os.getpid(), os.getppid())
killed = {}
for attempt in range(5):
    found = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared:
            continue
        try:
            if not ours(entry):
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                command = f.read().replace(b"\\0", b" ").decode("utf-8", "replace").strip()
            os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
        found += 1
        killed[entry] = command
    if not found:
        break
    time.sleep(0.05)  # a process may have forked while the loop ran
print(json.dumps([{"pid": int(p), "command": c} for p, c in killed.items()]))
`;

/** Kills every process on `host` whose environment has DISTEST_RUN_ID=`runId`; says what it killed. */
export async function sweepRun(host: CommandRunner, python: string, runId: string): Promise<SweepResult> {
  if (!/^[0-9a-zA-Z_-]+$/.test(runId)) return { host: host.name, killed: [], problem: `not sweeping: run id ${JSON.stringify(runId)} is not a plain token` };
  // This machine is swept from here: a python started for it costs more than the whole sweep.
  if (host.killCarrying) return { host: host.name, killed: await host.killCarrying(`${RUN_ID_VARIABLE}=${runId}`) };
  const res = await host.exec([python, '-c', SWEEP_SCRIPT, runId], { timeoutMs: 15_000 });
  try {
    return { host: host.name, killed: JSON.parse(res.stdout) as SweepResult['killed'] };
  } catch {
    return { host: host.name, killed: [], problem: `the cleanup sweep on ${host.name} failed: ${res.stderr.trim() || `exit ${res.code ?? res.signal}`}` };
  }
}

export function describeSweep(result: SweepResult): string | undefined {
  if (result.problem) return result.problem;
  const n = result.killed.length;
  if (!n) return undefined;
  const list = result.killed.slice(0, 5).map(k => `${k.pid} ${k.command.slice(0, 80)}`).join('; ');
  return `killed ${n} stray process${n === 1 ? '' : 'es'} on ${result.host}: ${list}${n > 5 ? '; …' : ''}`;
}
