// The built CLI's `run --json` as integration tests use it: a core size limit of 0 (crash fixtures
// segfault), stderr as it grows, the parsed `tests` (empty when stdout is not JSON).
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve(__dirname, '../../../dist/cli.js');

export interface CliJsonRun<T> { code: number | null; tests: T[]; stderr: string }

export function runCliJson<T>(args: string[], opts: { cwd?: string; env?: Record<string, string>; onStderr?: (text: string, kill: () => void) => void } = {}): Promise<CliJsonRun<T>> {
  const child = spawn('/bin/sh', ['-c', 'ulimit -Sc 0; exec node "$@"', 'sh', CLI, ...args], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}), env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => {
    stderr += b;
    opts.onStderr?.(stderr, () => child.kill('SIGINT'));
  });
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
