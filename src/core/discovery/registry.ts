// The folders discoverFolder last walked with a caller's parser (the language server's). A single file
// discovered later without a context of its own (an open document, a file changed on disk) is read with
// its folder's pytest rules and modules, so that it lists the same tests as the folder walk did.
import fs from 'node:fs';
import path from 'node:path';
import type { FolderCache } from './cache';
import type { CollectContext } from './collect';
import type { DiscoveryConfig } from './config';
import type { PythonTestParser } from './parser';

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
  for (const folder of folders.values()) {
    if (folder.config !== config || (parser && folder.parser !== parser)) continue;
    if (!fs.existsSync(path.join(folder.root, relFile))) continue;
    if (found) return undefined; // the same relative path in two folders: neither is sure
    found = folder;
  }
  return found;
}
