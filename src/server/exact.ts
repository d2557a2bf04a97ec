// The language server's background exact pass (core/discovery/exact.ts): files whose static listing holds
// dynamic items are collected by pytest, a batch per folder at a time, and their resolved listings sent
// to the client as ordinary TestsChanged updates. The static tree is never held back: it goes out first,
// and a file's resolved listing is kept by its text, so that the next static listing of the same text is
// sent resolved at once.
import fs from 'node:fs';
import { applyExact, collectFiles, filesToResolve } from '../core/discovery/exact';
import type { DiscoverySettings } from '../core/settings';
import type { FileDiscovery } from '../core/types';
import type { Folder } from './folders';

/** Events within this long are collected into one pytest run. */
const BATCH_DELAY_MS = 300;

interface Asked { path: string; text: string; discovery: FileDiscovery }

export interface ExactPassHost {
  /** Sends a file's resolved listing (and its diagnostics) to the client. */
  resolved(folder: Folder, rel: string, discovery: FileDiscovery): void;
  log(message: string): void;
  settings(): DiscoverySettings;
}

export class ExactPass {
  /** Resolved listings by file path, with the text they were collected from. */
  private readonly resolvedFiles = new Map<string, { text: string; discovery: FileDiscovery }>();
  private readonly pending = new Map<string, { folder: Folder; files: Map<string, Asked> }>();
  private readonly running = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly stopping = new AbortController();

  constructor(private readonly host: ExactPassHost) {}

  /**
   * What to send for a file now: its resolved listing when its text was resolved before, else the static
   * one, with a pytest collection scheduled when it holds dynamic items and `text` is what is on disk
   * (pytest reads the disk; unsaved edits wait for the save).
   */
  offer(folder: Folder, path: string, discovery: FileDiscovery, text?: string): FileDiscovery {
    if (!this.host.settings().exactPython || !filesToResolve([discovery]).length) return discovery;
    const onDisk = readText(path);
    if (onDisk === undefined || (text !== undefined && text !== onDisk)) return discovery;
    const known = this.resolvedFiles.get(path);
    if (known?.text === onDisk) return known.discovery;
    this.schedule(folder, { path, text: onDisk, discovery });
    return discovery;
  }

  /** A whole folder's listing (DiscoverAll): resolved files where known; every dynamic file collected again. */
  offerFolder(folder: Folder, files: FileDiscovery[], pathOf: (rel: string) => string): FileDiscovery[] {
    if (!this.host.settings().exactPython) return files;
    const dynamic = new Set(filesToResolve(files));
    return files.map(f => {
      if (!dynamic.has(f.file)) return f;
      const path = pathOf(f.file);
      const text = readText(path);
      if (text === undefined) return f;
      this.schedule(folder, { path, text, discovery: f });
      const known = this.resolvedFiles.get(path);
      return known?.text === text ? known.discovery : f;
    });
  }

  /** Settings changed: what was resolved may be resolved differently now. */
  forget(): void {
    this.resolvedFiles.clear();
  }

  dispose(): void {
    this.stopping.abort();
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  private schedule(folder: Folder, asked: Asked): void {
    let batch = this.pending.get(folder.path);
    if (!batch) this.pending.set(folder.path, (batch = { folder, files: new Map() }));
    batch.files.set(asked.discovery.file, asked);
    if (this.running.has(folder.path) || this.timers.has(folder.path)) return;
    this.timers.set(folder.path, setTimeout(() => {
      this.timers.delete(folder.path);
      void this.runBatch(folder.path);
    }, BATCH_DELAY_MS));
  }

  private async runBatch(folderPath: string): Promise<void> {
    const batch = this.pending.get(folderPath);
    if (!batch || this.running.has(folderPath)) return;
    this.pending.delete(folderPath);
    this.running.add(folderPath);
    const { exactPython, mpiDefaultRanks } = this.host.settings();
    try {
      if (!exactPython) return;
      const rels = [...batch.files.keys()].sort();
      const asked = rels.map(rel => batch.files.get(rel)!.discovery);
      const collection = await collectFiles(folderPath, asked, { python: exactPython, mpiDefaultRanks, signal: this.stopping.signal });
      if (this.stopping.signal.aborted) return;
      if (collection.failure) {
        this.host.log(`distest: exact discovery of ${rels.length} file${rels.length === 1 ? '' : 's'} in ${folderPath} failed; they keep their dynamic items: ${collection.failure}`);
        return;
      }
      let resolvedItems = 0;
      for (const asked of batch.files.values()) {
        // Changed on disk while pytest ran: the newer text is pending (or will be) and is collected next.
        if (readText(asked.path) !== asked.text) continue;
        const exact = applyExact(asked.discovery, collection, mpiDefaultRanks);
        this.resolvedFiles.set(asked.path, { text: asked.text, discovery: exact });
        resolvedItems += exact.tests.length;
        this.host.resolved(batch.folder, asked.discovery.file, exact);
      }
      this.host.log(`distest: exact discovery: ${resolvedItems} items in ${rels.length} file${rels.length === 1 ? '' : 's'} of ${folderPath} from pytest (${collection.ms} ms)`);
    } finally {
      this.running.delete(folderPath);
      if (this.pending.has(folderPath) && !this.stopping.signal.aborted) void this.runBatch(folderPath);
    }
  }
}

function readText(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
