import fs from 'node:fs';
import path from 'node:path';
import type { FileDiscovery } from '../types';
import { compileConfig, type DiscoveryConfig } from './config';
import { PythonTestParser } from './parser';

const READ_CONCURRENCY = 64;

/** Test files under root, relative with forward slashes, sorted. Excluded folders are never entered. */
export async function findTestFiles(root: string, config: DiscoveryConfig): Promise<string[]> {
  const compiled = compileConfig(config);
  const found: string[] = [];
  let level = [''];
  while (level.length) {
    const next: string[] = [];
    await Promise.all(level.map(async rel => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(path.join(root, rel), { withFileTypes: true });
      } catch {
        return; // vanished or unreadable: nothing to discover there
      }
      for (const entry of entries) {
        const child = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (!compiled.isExcludedDir(entry.name)) next.push(child);
        } else if ((entry.isFile() || entry.isSymbolicLink()) && compiled.isTestFile(child)) {
          found.push(child);
        }
      }
    }));
    level = next;
  }
  return found.sort();
}

/** Discovers every test file under root. Files that vanish or cannot be read are skipped. */
export async function discoverFolder(root: string, config: DiscoveryConfig, parser?: PythonTestParser): Promise<FileDiscovery[]> {
  const files = await findTestFiles(root, config);
  const python = parser ?? (await PythonTestParser.create());
  const results: (FileDiscovery | undefined)[] = new Array(files.length);
  let nextIndex = 0;
  // Reads overlap while the (synchronous) parse of an earlier file runs.
  const worker = async () => {
    for (let i = nextIndex++; i < files.length; i = nextIndex++) {
      let text: string;
      try {
        text = await fs.promises.readFile(path.join(root, files[i]), 'utf8');
      } catch {
        continue;
      }
      results[i] = python.discover(files[i], text, config);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));
  } finally {
    if (!parser) python.dispose();
  }
  return results.filter((r): r is FileDiscovery => r !== undefined);
}
