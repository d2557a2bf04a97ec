import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeFsName, fsPath } from '../fsNames';
import type { FileDiscovery } from '../types';
import { compileConfig, type DiscoveryConfig } from './config';
import { PythonTestParser } from './parser';

/**
 * Files read and parsed between two yields to the event loop (a language server must stay responsive);
 * also the unit threads share work in, so small enough that no thread waits long on the last chunk.
 */
const CHUNK_FILES = 50;
/** Below this many files a helper thread costs more (its own wasm load) than it saves. */
const MIN_FILES_FOR_WORKERS = 600;
const WORKER_FLAG = 'distestDiscoveryWorker';

export interface DiscoverFolderOptions {
  /**
   * A script that calls serveDiscoveryWorker() before anything else (the calling bundle itself,
   * usually `__filename`). Given, large folders are parsed on helper threads too, one per spare core.
   */
  workerScript?: string;
}

/**
 * Test files under root, relative with forward slashes, sorted. Excluded folders are never entered.
 * Names are read as bytes: one that is not valid UTF-8 is kept with its bytes escaped (fsNames.ts).
 */
export async function findTestFiles(root: string, config: DiscoveryConfig): Promise<string[]> {
  const compiled = compileConfig(config);
  const found: string[] = [];
  let level = [''];
  while (level.length) {
    const next: string[] = [];
    await Promise.all(level.map(async rel => {
      let entries: fs.Dirent<Buffer>[];
      try {
        entries = await fs.promises.readdir(fsPath(path.join(root, rel)), { withFileTypes: true, encoding: 'buffer' });
      } catch {
        return; // vanished or unreadable: nothing to discover there
      }
      for (const entry of entries) {
        const name = decodeFsName(entry.name);
        const child = rel ? `${rel}/${name}` : name;
        if (entry.isDirectory()) {
          if (!compiled.isExcludedDir(name)) next.push(child);
        } else if ((entry.isFile() || entry.isSymbolicLink()) && compiled.isTestFile(child)) {
          found.push(child);
        }
      }
    }));
    level = next;
  }
  return found.sort();
}

/**
 * Discovers every test file under root, in path order. Files that vanish or cannot be read are skipped.
 * Files are read synchronously, a chunk per event-loop turn: for thousands of small files that is 3-6x
 * faster than fs.promises (each promise read costs four thread-pool round trips).
 */
export async function discoverFolder(root: string, config: DiscoveryConfig, parser?: PythonTestParser, options: DiscoverFolderOptions = {}): Promise<FileDiscovery[]> {
  const files = await findTestFiles(root, config);
  const chunks: string[][] = [];
  for (let start = 0; start < files.length; start += CHUNK_FILES) chunks.push(files.slice(start, start + CHUNK_FILES));
  const results: (FileDiscovery[] | undefined)[] = new Array(chunks.length);
  // Every thread claims its next chunk from a shared counter: a helper never waits on this thread, which
  // only reads messages between its own chunks.
  const claimed = new Int32Array(new SharedArrayBuffer(4));
  const helpers = options.workerScript && files.length >= MIN_FILES_FOR_WORKERS ? Math.min(3, os.availableParallelism() - 1) : 0;
  const job: HelperJob = { root, chunks, config, claimed: claimed.buffer as SharedArrayBuffer };
  const helping = Array.from({ length: helpers }, () => runHelper(options.workerScript!, job, results));

  const python = parser ?? (await PythonTestParser.create());
  try {
    for (let index = Atomics.add(claimed, 0, 1); index < chunks.length; index = Atomics.add(claimed, 0, 1)) {
      results[index] = discoverFiles(python, root, chunks[index], config);
      await new Promise(resolve => setImmediate(resolve));
    }
    await Promise.all(helping);
    // A helper that failed to start or died leaves the chunks it had claimed to this thread.
    for (let index = 0; index < chunks.length; index++) results[index] ??= discoverFiles(python, root, chunks[index], config);
  } finally {
    if (!parser) python.dispose();
  }
  return (results as FileDiscovery[][]).flat();
}

function discoverFiles(parser: PythonTestParser, root: string, files: string[], config: DiscoveryConfig): FileDiscovery[] {
  const results: FileDiscovery[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(fsPath(path.join(root, file)), 'utf8');
    } catch {
      continue;
    }
    results.push(parser.discover(file, text, config));
  }
  return results;
}

interface HelperJob { root: string; chunks: string[][]; config: DiscoveryConfig; claimed: SharedArrayBuffer }
interface ChunkResult { index: number; files: FileDiscovery[] }

/** A helper thread working through the shared chunks; resolves when it exits, however it ends. */
function runHelper(script: string, job: HelperJob, results: (FileDiscovery[] | undefined)[]): Promise<void> {
  return new Promise(resolve => {
    const helper = new Worker(script, { workerData: { [WORKER_FLAG]: job } });
    helper.on('message', ({ index, files }: ChunkResult) => { results[index] = files; });
    helper.on('error', () => undefined); // 'exit' follows; the caller redoes what is missing
    helper.on('exit', () => resolve());
  });
}

/**
 * Call first thing in a bundle that passes itself as `workerScript`: in a discovery helper thread it
 * works through its job and returns true (the bundle must then do nothing else); elsewhere it returns false.
 */
export function serveDiscoveryWorker(): boolean {
  const job = (workerData as Record<string, HelperJob | undefined> | undefined)?.[WORKER_FLAG];
  if (isMainThread || !parentPort || !job) return false;
  const port = parentPort;
  // A failure to load ends this thread with an 'error'; the main thread then does the chunks itself.
  void PythonTestParser.create().then(parser => {
    const claimed = new Int32Array(job.claimed);
    for (let index = Atomics.add(claimed, 0, 1); index < job.chunks.length; index = Atomics.add(claimed, 0, 1)) {
      port.postMessage({ index, files: discoverFiles(parser, job.root, job.chunks[index], job.config) } satisfies ChunkResult);
    }
    parser.dispose();
    port.close();
  });
  return true;
}
