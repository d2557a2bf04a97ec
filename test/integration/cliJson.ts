// `distest run --json` as a child process, for the integration tests that read its per-test report.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve(__dirname, '../../../dist/cli.js');

export interface CliJsonRun<T> { code: number | null; tests: T[]; stderr: string }

/**
 * Runs the CLI with `args` and parses its JSON report's `tests` (none when stdout is not JSON).
 * `noCores`: the run starts with a zero core-file limit, for tests whose ranks crash on purpose.
 */
export function runCliJson<T>(args: string[], opts: { cwd?: string; env?: Record<string, string>; noCores?: boolean } = {}): Promise<CliJsonRun<T>> {
  const [cmd, argv] = opts.noCores
    ? ['/bin/sh', ['-c', 'ulimit -Sc 0; exec "$@"', 'sh', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  const child = spawn(cmd, argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  return new Promise(resolve => child.on('close', code => {
    let tests: T[] = [];
    try {
      tests = (JSON.parse(stdout) as { tests: T[] }).tests;
    } catch {
      tests = [];
    }
    resolve({ code, tests, stderr });
  }));
}
