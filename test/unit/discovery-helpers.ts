import path from 'node:path';
import type { DiscoveryConfig } from '../../src/core/discovery/config';
import { PythonTestParser } from '../../src/core/discovery/parser';

export const repoRoot = path.resolve(__dirname, '../../..');
export const mpiProject = path.join(repoRoot, 'test/fixtures/mpi-project');
export const baseConfig: DiscoveryConfig = { launchers: [], mpiDefaultRanks: 2 };

let shared: Promise<PythonTestParser> | undefined;
export function parser(): Promise<PythonTestParser> {
  return (shared ??= PythonTestParser.create());
}

/** Dedents a Python snippet written inside a template literal. */
export function py(source: string): string {
  const lines = source.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter(l => l.trim()).map(l => l.match(/^ */)![0].length));
  return lines.map(l => l.slice(indent)).join('\n');
}

export async function discover(source: string, config: DiscoveryConfig = baseConfig, file = 'tests/test_x.py') {
  return (await parser()).discover(file, py(source), config);
}
