// Bundled by bench/discovery.mjs into .bench/discovery-entry.js. Run as a program, it is the "cold"
// measurement: `node .bench/discovery-entry.js <folder>` prints one JSON line with the counts and timings.
import path from 'node:path';
import type { DiscoveryConfig } from '../src/core/discovery/config';
import { discoverFolder, serveDiscoveryWorker } from '../src/core/discovery/folder';
import { PythonTestParser } from '../src/core/discovery/parser';
import type { FileDiscovery } from '../src/core/types';

export { discoverFolder, PythonTestParser };
export type { DiscoveryConfig, FileDiscovery };

export const benchConfig: DiscoveryConfig = { launchers: [], mpiDefaultRanks: 2 };

export async function discoverForBench(root: string): Promise<{ files: number; tests: number; ids: string[]; totalMs: number; wasmMs: number }> {
  const started = performance.now();
  const wasmDir = path.resolve(__dirname, '../dist');
  const parser = await PythonTestParser.create({ wasmDir });
  const wasmMs = performance.now() - started;
  const results = await discoverFolder(root, benchConfig, parser, { workerScript: __filename });
  parser.dispose();
  const ids = results.flatMap(r => r.tests.map(t => t.id));
  return { files: results.length, tests: ids.length, ids, totalMs: performance.now() - started, wasmMs };
}

if (!serveDiscoveryWorker() && require.main === module) {
  const root = process.argv[2];
  if (!root) {
    process.stderr.write('usage: node .bench/discovery-entry.js <folder> [--ids]\n');
    process.exit(2);
  }
  discoverForBench(path.resolve(root)).then(result => {
    const { ids, ...summary } = result;
    process.stdout.write(JSON.stringify(process.argv.includes('--ids') ? { ...summary, ids } : summary) + '\n');
  }, err => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
