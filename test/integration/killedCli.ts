// A distest CLI killed outright (SIGKILL) in the middle of a run, for the tests that prove a dead CLI
// leaves nothing running anywhere: a project whose one test holds its ranks for minutes, and the run's
// id read from one of its ranks (every process of the run carries it, also on other nodes).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { processEnv, processesMentioning } from './procs';

const REPO = path.resolve(__dirname, '../../..');

/**
 * A project under `parent` (a folder the nodes share) whose test prints `holding` on each rank, then
 * sleeps. The file name is unique, so the run's processes can be told by their command lines.
 */
export function holdingProject(parent: string): { root: string; testFile: string } {
  const root = fs.mkdtempSync(path.join(parent, 'distest-hold-'));
  const testFile = path.join(root, `tests/test_hold_${path.basename(root).slice('distest-hold-'.length)}.py`);
  fs.mkdirSync(path.dirname(testFile));
  fs.writeFileSync(testFile, [
    'import time', 'import pytest', 'from mpi4py import MPI', '', '',
    '@pytest.mark.mpi(min_size=2)', 'def test_holds():', '    MPI.COMM_WORLD.Barrier()',
    '    print("holding", flush=True)', '    time.sleep(600)', '',
  ].join('\n'));
  return { root, testFile };
}

export interface KilledRun {
  /** DISTEST_RUN_ID of the run, read from a rank before the kill. */
  runId: string;
  stderr: string;
  /** Date.now() when the SIGKILL was sent: "nothing left within N s" counts from here. */
  killedAt: number;
}

/**
 * Runs `node dist/cli.js run <root> args...`, waits until `ranks` ranks print `holding`, then SIGKILLs
 * the CLI (nothing of it gets to clean up) and returns once it is gone.
 */
export async function killCliMidRun(project: { root: string; testFile: string }, args: string[], opts: { ranks: number; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<KilledRun> {
  const child = spawn(process.execPath, [path.join(REPO, 'dist/cli.js'), 'run', project.root, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let runId: string | undefined;
  let killedAt = 0;
  const closed = new Promise<void>(resolve => child.once('close', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (runId !== undefined || (stderr.match(/^\[rank \d+\] holding$/gm) ?? []).length < opts.ranks) return;
    runId = processesMentioning(path.basename(project.testFile)).map(p => processEnv(p.pid, 'DISTEST_RUN_ID')).find(id => id) ?? '';
    killedAt = Date.now();
    child.kill('SIGKILL');
  });
  await closed;
  clearTimeout(timer);
  if (!runId) throw new Error(`the run's ranks never all held (or carried no DISTEST_RUN_ID):\n${stderr}`);
  return { runId, stderr, killedAt };
}
