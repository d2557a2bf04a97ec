// Bundled by bench/discovery.mjs into .bench/discovery-entry.js. Run as a program, it is one measured
// discovery: `node .bench/discovery-entry.js <folder> [--ids] [--cache DIR] [--edit FILE,...]` prints one JSON
// line with the counts and timings. With --cache the folder's discovery cache in DIR is used (a cold run
// when DIR is empty, a warm one after); with --edit it then changes each FILE (relative to the folder) in turn and
// times the update the language server makes of it: the file rediscovered with the folder's context
// and its cache entry replaced. With --first (and --cache) it only reads the listing the cache holds, unchecked:
// what the language server answers a reopened workspace before checking it against the disk.
import fs from 'node:fs';
import path from 'node:path';
import { DISCOVERY_NODE_FLAGS, DiscoveryCache, readTestFile, tuneV8ForBulkParse } from '../src/core/discovery/cache';
import type { DiscoveryConfig } from '../src/core/discovery/config';
import { startWithoutExtraCaCerts } from '../src/core/extraCaCerts';
import { cachedListing, discoverFolder, PrestartedHelpers, serveDiscoveryWorker } from '../src/core/discovery/folder';
import { PythonTestParser } from '../src/core/discovery/parser';
import { discoverFile, folderOf } from '../src/core/discovery/registry';
import type { FileDiscovery } from '../src/core/types';

export { DISCOVERY_NODE_FLAGS, discoverFolder, PythonTestParser, startWithoutExtraCaCerts };
export type { DiscoveryConfig, FileDiscovery };

export const benchConfig: DiscoveryConfig = { launchers: [], mpiDefaultRanks: 2 };

interface BenchResult { files: number; tests: number; ids: string[]; totalMs: number; wasmMs: number; editsMs: number[]; editTests?: number }

/** The cached listing alone (the language server's first answer for a reopened folder). */
export function firstListingForBench(root: string, cacheDir: string): BenchResult {
  const started = performance.now();
  const cache = new DiscoveryCache({ dir: cacheDir, log: line => process.stderr.write(`${line}\n`) });
  const results = cachedListing(root, benchConfig, cache) ?? [];
  const ids = results.flatMap(r => r.tests.map(t => t.id));
  return { files: results.length, tests: ids.length, ids, totalMs: performance.now() - started, wasmMs: 0, editsMs: [] };
}

export async function discoverForBench(root: string, cacheDir?: string, edit?: string, helpers?: PrestartedHelpers): Promise<BenchResult> {
  const started = performance.now();
  const wasmDir = path.resolve(__dirname, '../dist');
  // As the language server does: the parser loads while the folder is walked and its cache read.
  let wasmMs = 0;
  const loading = PythonTestParser.create({ wasmDir }).then(loaded => {
    wasmMs = performance.now() - started;
    return loaded;
  });
  const cache = cacheDir ? new DiscoveryCache({ dir: cacheDir, log: line => process.stderr.write(`${line}\n`) }) : undefined;
  const results = await discoverFolder(root, benchConfig, loading, { workerScript: __filename, cache, beforeBulkParse: tuneV8ForBulkParse, helpers });
  const parser = await loading;
  const totalMs = performance.now() - started;
  const ids = results.flatMap(r => r.tests.map(t => t.id));
  // Each listed file is changed in turn (a test added) and its update timed, then put back.
  const editsMs: number[] = [];
  let editTests: number | undefined;
  for (const rel of edit ? edit.split(',') : []) {
    const file = path.join(root, rel);
    const original = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, `${original}\n\ndef test_added_by_bench():\n    pass\n`);
    try {
      const editStarted = performance.now();
      const { text, read } = readTestFile(file);
      const { discovery } = discoverFile(parser, rel, text, benchConfig);
      folderOf(rel, benchConfig, parser)?.cache?.put(discovery, read);
      editsMs.push(performance.now() - editStarted);
      editTests = discovery.tests.length;
    } finally {
      fs.writeFileSync(file, original);
    }
  }
  parser.dispose();
  return { files: results.length, tests: ids.length, ids, totalMs, wasmMs, editsMs, editTests };
}

if (!serveDiscoveryWorker() && require.main === module) {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const root = args[0];
  if (!root || root.startsWith('--')) {
    process.stderr.write('usage: node .bench/discovery-entry.js <folder> [--ids] [--cache DIR [--first]] [--edit FILE,...]\n');
    process.exit(2);
  }
  const cacheDir = option('--cache');
  const measured = args.includes('--first') && cacheDir
    ? Promise.resolve(firstListingForBench(path.resolve(root), cacheDir))
    // As the language server does: helpers start with the process.
    : discoverForBench(path.resolve(root), cacheDir, option('--edit'), new PrestartedHelpers(__filename));
  measured.then(result => {
    const { ids, ...summary } = result;
    process.stdout.write(JSON.stringify(args.includes('--ids') ? { ...summary, ids } : summary) + '\n');
  }, err => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
