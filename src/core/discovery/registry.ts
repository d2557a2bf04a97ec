// The folders discoverFolder last walked with a caller's parser (the language server's). A single file
// discovered later without a context of its own (an open document, a file changed on disk) is read with
// its folder's pytest rules and modules, so that it lists the same tests as the folder walk did.
import fs from 'node:fs';
import path from 'node:path';
import type { FolderCache } from './cache';
import type { CollectContext, CollectedFile } from './collect';
import { compileConfig, type DiscoveryConfig } from './config';
import type { PythonTestParser } from './parser';
import type { FileDiscovery } from '../types';

export interface FolderContext {
  root: string;
  config: DiscoveryConfig;
  parser: PythonTestParser;
  context: Omit<CollectContext, 'absPath'>;
  /** The folder's discovery cache, when it was discovered with one: single files discovered later update it. */
  cache?: FolderCache;
  /** Whether pytest collects this file (relative to the root): python_files, the folders it skips, ignores. */
  collects(relFile: string): boolean;
  dispose(): void;
  /** Folders below (relative) with a configuration file of their own: test roots discovered apart (folder.ts nestedRoots). */
  nestedRoots?: string[];
}

const folders = new Map<string, FolderContext>();

/** Keeps a folder's context, releasing the one it replaces. */
export function rememberFolder(folder: FolderContext): void {
  const previous = folders.get(folder.root);
  folders.set(folder.root, folder);
  if (previous && previous !== folder) previous.dispose();
}

/** The one remembered folder, discovered with this very settings object, that holds the file. */
export function folderOf(relFile: string, config: DiscoveryConfig, parser?: PythonTestParser): FolderContext | undefined {
  let found: FolderContext | undefined;
  // A nested test root is reached through the folder it is in (folderFor), never by a path of its own.
  const nested = new Set<string>();
  for (const folder of folders.values()) for (const dir of folder.nestedRoots ?? []) nested.add(path.join(folder.root, dir));
  for (const folder of folders.values()) {
    if (folder.config !== config || (parser && folder.parser !== parser) || nested.has(folder.root)) continue;
    if (!fs.existsSync(path.join(folder.root, relFile))) continue;
    if (found) return undefined; // the same relative path in two folders: neither is sure
    found = folder;
  }
  return found;
}

/**
 * The remembered folder whose rules a file follows, and its path there: a file below a nested test root
 * is that root's (`prefix`: the root's path from the workspace folder, with a trailing slash).
 */
export function folderFor(relFile: string, config: DiscoveryConfig, parser?: PythonTestParser): { folder: FolderContext; rel: string; prefix: string } | undefined {
  const outer = folderOf(relFile, config, parser);
  if (!outer) return undefined;
  let folder: FolderContext = outer;
  let rel = relFile;
  let prefix = '';
  for (;;) {
    const dir: string | undefined = folder.nestedRoots?.find(d => rel.startsWith(`${d}/`));
    const inner: FolderContext | undefined = dir === undefined ? undefined : folders.get(path.join(folder.root, dir));
    if (dir === undefined || !inner || inner.config !== config) return { folder, rel, prefix };
    folder = inner;
    rel = rel.slice(dir.length + 1);
    prefix += `${dir}/`;
  }
}

/** A nested test root's discovery, named from the workspace folder: ids, files and groups under `dir/`. */
export function underTestRoot(found: FileDiscovery, dir: string): FileDiscovery {
  const prefix = `${dir}/`;
  return {
    file: prefix + found.file,
    tests: found.tests.map(t => {
      const test = { ...t, id: prefix + t.id, file: prefix + t.file, testRoot: t.testRoot ? prefix + t.testRoot : dir };
      if (t.groupId) test.groupId = prefix + t.groupId;
      return test;
    }),
    diagnostics: found.diagnostics.map(d => ({ ...d, file: prefix + d.file })),
  };
}

/**
 * Whether discovery looks into this file: pytest's python_files, or a launcher template's glob; in a
 * folder discoverFolder walked with these settings, whether pytest there collects it.
 */
export function isTestFile(relFile: string, config: DiscoveryConfig): boolean {
  const located = folderFor(relFile, config);
  return located ? located.folder.collects(located.rel) : compileConfig(config).isTestFile(relFile);
}

/**
 * The tests of one file discovered on its own (an open document, a file changed on disk), and what each
 * rank marker means: with the pytest rules and modules of the remembered folder that holds it, so that
 * it lists the same tests as the folder walk did; else pytest's defaults and this file alone.
 */
export function discoverFile(parser: PythonTestParser, relFile: string, text: string, config: DiscoveryConfig): CollectedFile {
  const located = folderFor(relFile, config, parser);
  if (!located) return parser.discoverWithMarkers(relFile, text, config);
  const found = parser.discoverWithMarkers(located.rel, text, config, { ...located.folder.context, absPath: path.join(located.folder.root, located.rel) });
  if (located.prefix) found.discovery = underTestRoot(found.discovery, located.prefix.slice(0, -1));
  return found;
}
