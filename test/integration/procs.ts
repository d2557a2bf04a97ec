// Finds processes by what they carry, to prove a run left nothing behind (Linux /proc).
import fs from 'node:fs';

export interface ProcInfo { pid: number; cmdline: string }

function liveProcesses(): number[] {
  return fs
    .readdirSync('/proc')
    .filter(e => /^\d+$/.test(e))
    .map(Number)
    .filter(pid => pid !== process.pid && !isZombie(pid));
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

function readNulSeparated(file: string): string[] | null {
  try {
    return fs.readFileSync(file, 'utf8').split('\0');
  } catch {
    return null; // exited meanwhile, or not ours to read
  }
}

function info(pid: number): ProcInfo {
  return { pid, cmdline: (readNulSeparated(`/proc/${pid}/cmdline`) ?? []).join(' ').trim() };
}

/** Live processes whose environment has `name=value` (e.g. a run's DISTEST_TOKEN). */
export function processesWithEnv(name: string, value: string): ProcInfo[] {
  const wanted = `${name}=${value}`;
  return liveProcesses()
    .filter(pid => readNulSeparated(`/proc/${pid}/environ`)?.includes(wanted))
    .map(info);
}

/** The value of `name` in a live process's environment; undefined when unset or the process is gone. */
export function processEnv(pid: number, name: string): string | undefined {
  const prefix = `${name}=`;
  return readNulSeparated(`/proc/${pid}/environ`)?.find(entry => entry.startsWith(prefix))?.slice(prefix.length);
}

/** Live processes whose command line mentions `text` (e.g. a fixture path). */
export function processesMentioning(text: string): ProcInfo[] {
  return liveProcesses()
    .map(info)
    .filter(p => p.cmdline.includes(text));
}

/** Polls until `find()` is empty or `timeoutMs` passes; returns what is left. */
export async function waitUntilGone(find: () => ProcInfo[], timeoutMs = 5000): Promise<ProcInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = find();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}
