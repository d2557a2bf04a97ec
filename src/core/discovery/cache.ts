// The persistent discovery cache: one file per workspace folder (layout in cacheFile.ts), in a folder the caller chooses (the
// editor's workspace storage, the CLI's XDG cache). A file's tests are reused when its content is the
// same (a SHA-1 of its bytes; an unchanged size, mtime, ctime and inode stand for it) and everything its
// discovery read besides itself is too: the texts of conftest.py files, imported modules and plugins,
// which names folders hold and which files exist (ProjectModules.facts()). Those facts are one set for
// the folder, so a change in any of them rediscovers every file (correctness over speed). The key also
// holds the discovery version (a distest upgrade), the settings and pytest's configuration as read.
// A cache file that cannot be read is logged and ignored; nothing here ever fails discovery.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import type { FileDiscovery } from '../types';
import { decodeFolder, encodeFolder, FORMAT, type FileStamp } from './cacheFile';
import type { DependencyFacts } from './project';

/**
 * Changes with every distest build whose discovery could answer differently: scripts/build.mjs defines it
 * as the package version plus a hash of the discovery sources and the tree-sitter grammar.
 */
declare const DISTEST_DISCOVERY_VERSION: string | undefined;
export const DISCOVERY_VERSION: string = typeof DISTEST_DISCOVERY_VERSION === 'string' ? DISTEST_DISCOVERY_VERSION : 'unbuilt';

/** A test file as discovery read it. */
export interface ReadFile { hash: string; stamp: FileStamp | undefined }

export interface DiscoveryCacheOptions {
  /** The folder holding the cache files (created when needed). */
  dir: string;
  /** The discovery version entries must have been made by; defaults to this build's. */
  version?: string;
  /** Where problems go (an unreadable cache file, a failed write). */
  log?: (line: string) => void;
  /** The folder's cache files together stay under this many bytes (oldest removed first). */
  maxBytes?: number;
  /** At most this many workspace folders are cached (oldest removed first). */
  maxFolders?: number;
  /** The racy window (RACY_MS unless a test says otherwise). */
  racyMs?: number;
}

export const DEFAULT_CACHE_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_CACHE_MAX_FOLDERS = 16;
/**
 * A file changed this recently may change again within its timestamps' resolution (FAT keeps 2 s, some
 * network file systems 1 s) without its stamp changing: that stamp is not trusted, the file is rechecked
 * by content (git's "racily clean" entries).
 */
export const RACY_MS = 2000;

interface Entry { hash: string; stamp: FileStamp | undefined; discovery: FileDiscovery }
type HashedFacts = DependencyFacts<string>;

/**
 * Node flags for a process that discovers (the language server; bench:discovery's processes).
 * - A reopened workspace of 5,000 files decodes ~32,000 tests from the cache at start-up, nearly all of
 *   which live on: a larger young generation from the start saves the scavenges that copy them (~20 ms
 *   of ~130).
 * - V8's default interrupt budget (67,584) has TurboFan compile, on the cores the parsing threads need,
 *   functions that are nearly done by then. 400,000 leaves that to what stays hot; a bulk parse raises it
 *   further (tuneV8ForBulkParse). A long-lived server still optimizes its hot paths.
 */
export const DISCOVERY_NODE_FLAGS = ['--min-semi-space-size=16', '--interrupt-budget=400000'];

/**
 * Called when a folder has so many files to parse that helper threads start (discoverFolder's
 * `beforeBulkParse`, with the number of parsing threads). V8 flags are per process, helpers included.
 * Measured on 2 cores, pair by pair, on a cold discovery of 5,000 files:
 * - The interrupt budget goes to 1,000,000: ~5% faster than at 400,000 (700,000 to 1,500,000 alike,
 *   2,500,000 3% slower than 1,000,000), while the cached first listing, which parses nothing, stays at
 *   400,000 (at 1,000,000 it took 216 ms instead of 190).
 * - When the parsing threads take every core, each isolate scavenges its young generation alone: the
 *   helper tasks of a parallel scavenge only wait for cores the other parsing threads hold (~4% faster).
 * Node flags on the command line cost the CLI ~8 ms a command (node's own code cache stops fitting), so
 * it starts without any and gets these too. What that costs it, once: if its bundle's code cache is
 * written at the end of such a run, the next command finds it does not fit, and compiles and writes it
 * anew.
 */
export function tuneV8ForBulkParse(threads: number): void {
  v8.setFlagsFromString('--interrupt-budget=1000000');
  if (threads >= os.availableParallelism()) v8.setFlagsFromString('--no-parallel-scavenge');
}

/** The caches of the workspace folders discovered with one store folder, kept in memory once read. */
export class DiscoveryCache {
  readonly version: string;
  private readonly folders = new Map<string, FolderCache>();

  constructor(readonly options: DiscoveryCacheOptions) {
    this.version = options.version ?? DISCOVERY_VERSION;
  }

  /**
   * The cache of a workspace folder for discovery with this key (settings and pytest configuration);
   * entries made under another key or version are dropped.
   */
  folder(root: string, key: string): FolderCache {
    const fullKey = `${FORMAT}\0${this.version}\0${root}\0${key}`;
    let folder = this.folders.get(root);
    if (!folder || folder.key !== fullKey) {
      folder = new FolderCache(this, this.fileOf(root), fullKey);
      this.folders.set(root, folder);
    }
    return folder;
  }

  /** The folder's cache when discovery opened it in this process. */
  opened(root: string): FolderCache | undefined {
    return this.folders.get(root);
  }

  fileOf(root: string): string {
    return path.join(this.options.dir, `discovery-${hashText(root).replace(/[/+=]/g, '_').slice(0, 20)}.bin`);
  }

  log(line: string): void {
    this.options.log?.(`distest: discovery cache: ${line}`);
  }

  /** Removes the oldest cache files beyond the bounds. */
  prune(): void {
    const maxBytes = this.options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES;
    const maxFolders = this.options.maxFolders ?? DEFAULT_CACHE_MAX_FOLDERS;
    let names: string[];
    try {
      names = fs.readdirSync(this.options.dir);
    } catch {
      return;
    }
    // Files of the first layout (JSON) are never read again.
    for (const name of names) if (/^discovery-.*\.json$/.test(name)) fs.rmSync(path.join(this.options.dir, name), { force: true });
    names = names.filter(n => /^discovery-.*\.bin$/.test(n));
    const files = names.flatMap(name => {
      const file = path.join(this.options.dir, name);
      try {
        const stat = fs.statSync(file);
        return [{ file, size: stat.size, mtimeMs: stat.mtimeMs }];
      } catch {
        return [];
      }
    }).sort((a, b) => b.mtimeMs - a.mtimeMs);
    let total = 0;
    files.forEach((f, index) => {
      total += f.size;
      if (index >= maxFolders || total > maxBytes) fs.rmSync(f.file, { force: true });
    });
  }
}

/** One workspace folder's entries and the facts they rest on. */
export class FolderCache {
  private entries = new Map<string, Entry>();
  private facts: HashedFacts = { texts: new Map(), holds: new Map(), files: new Map() };
  /** Facts of discovery done elsewhere (helper threads) since the last save. */
  private readonly extraFacts: HashedFacts[] = [];
  /** What this process's discovery asked (the folder's modules), read when saving. */
  private liveFacts?: () => DependencyFacts;
  private dirty = false;
  private loaded = false;
  /** Files the last discovery of the folder took from the cache. */
  hits = 0;

  constructor(private readonly cache: DiscoveryCache, readonly file: string, readonly key: string) {}

  /** Reads the cache file once; an unreadable or foreign one is logged and left for the next save to replace. */
  load(): void {
    if (this.loaded) return;
    this.loaded = true;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.cache.log(`cannot read ${this.file} (${(err as Error).message}); discovering without it`);
      return;
    }
    try {
      const stored = decodeFolder(bytes, this.key);
      if (!stored) return; // another version, settings or configuration: nothing to reuse
      this.facts = stored.facts;
      for (const { rel, hash, stamp, discovery } of stored.entries) this.entries.set(rel, { hash, stamp, discovery });
    } catch (err) {
      this.entries.clear();
      this.facts = { texts: new Map(), holds: new Map(), files: new Map() };
      this.dirty = true;
      this.cache.log(`${this.file} is not a valid cache file (${(err as Error).message}); discovering without it`);
    }
  }

  /**
   * Whether the entries' facts still hold, asked through `check` (the folder's modules, which remember
   * what they read for the discovery that follows). When they do not, every entry is dropped.
   */
  validate(check: (facts: HashedFacts) => boolean): boolean {
    this.load();
    this.foldFacts();
    this.liveFacts = undefined;
    this.hits = 0;
    if (!this.entries.size) return false;
    if (check(this.facts)) return true;
    this.entries.clear();
    this.facts = { texts: new Map(), holds: new Map(), files: new Map() };
    this.dirty = true;
    return false;
  }

  /** Whether the cache file holds discoveries for this folder (it is read once, here or later). */
  holdsEntries(): boolean {
    this.load();
    return this.entries.size > 0;
  }

  /** Every kept discovery in path order, unchecked against the disk. */
  listing(): FileDiscovery[] {
    this.load();
    return [...this.entries.keys()].sort().map(rel => this.entries.get(rel)!.discovery);
  }

  /** The kept discovery of a file when its content is the one it was made from. */
  lookup(rel: string, absPath: fs.PathLike): FileDiscovery | undefined {
    const entry = this.entries.get(rel);
    if (!entry) return undefined;
    const stamp = stampOf(absPath);
    if (!stamp) return undefined;
    if (entry.stamp && sameStamp(entry.stamp, stamp)) {
      this.hits++;
      return entry.discovery;
    }
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(absPath);
    } catch {
      return undefined;
    }
    if (hashBytes(bytes) !== entry.hash) return undefined;
    entry.stamp = this.trusted(stamp);
    if (entry.stamp) this.dirty = true;
    this.hits++;
    return entry.discovery;
  }

  /** Keeps a file's fresh discovery. */
  put(discovery: FileDiscovery, read: ReadFile): void {
    this.entries.set(discovery.file, { hash: read.hash, stamp: read.stamp && this.trusted(read.stamp), discovery });
    this.dirty = true;
  }

  /** A stamp that can vouch for the content later: not one of a file changed within the racy window before now. */
  private trusted(stamp: FileStamp): FileStamp | undefined {
    return Math.max(stamp.mtimeMs, stamp.ctimeMs) < Date.now() - (this.cache.options.racyMs ?? RACY_MS) ? stamp : undefined;
  }

  /** Forgets a file that is gone or no test file any more. */
  forget(rel: string): void {
    if (this.entries.delete(rel)) this.dirty = true;
  }

  /** Keeps only these files' entries (those the walk found). */
  retain(files: Iterable<string>): void {
    const keep = new Set(files);
    for (const rel of this.entries.keys()) if (!keep.has(rel)) this.forget(rel);
  }

  /** The facts of this process's discovery of the folder (its modules), read when saving. */
  trackFacts(facts: () => DependencyFacts): void {
    this.liveFacts = facts;
  }

  addFacts(facts: HashedFacts): void {
    this.extraFacts.push(facts);
    this.dirty = true;
  }

  /** Writes the cache file when something changed (atomically: a reader sees the old file or the new one). */
  save(): void {
    if (this.foldFacts()) this.dirty = true;
    if (!this.dirty) return;
    this.dirty = false;
    const bytes = encodeFolder({ key: this.key, facts: this.facts, entries: [...this.entries].map(([rel, e]) => ({ rel, ...e })) });
    const maxBytes = this.cache.options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES;
    if (bytes.length > maxBytes) {
      this.cache.log(`${this.file} would take ${bytes.length} bytes, more than the ${maxBytes} allowed; not written`);
      fs.rmSync(this.file, { force: true });
      return;
    }
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(temporary, bytes);
      fs.renameSync(temporary, this.file);
    } catch (err) {
      fs.rmSync(temporary, { force: true });
      this.cache.log(`cannot write ${this.file} (${(err as Error).message})`);
      return;
    }
    this.cache.prune();
  }

  /** Adds what this process's discovery read since to the facts the entries rest on; whether that added any. */
  private foldFacts(): boolean {
    const added = [...(this.liveFacts ? [hashFacts(this.liveFacts())] : []), ...this.extraFacts].filter(facts => !knownFacts(facts, this.facts));
    this.extraFacts.length = 0;
    if (!added.length) return false;
    this.facts = mergeFacts([this.facts, ...added]);
    return true;
  }

  /** Whether the entries rest on this file: its text was read, or whether it exists was asked. */
  dependsOn(absPath: string): boolean {
    this.foldFacts();
    if (this.facts.texts.has(absPath) || this.facts.files.has(absPath)) return true;
    const slash = absPath.lastIndexOf('/');
    return this.facts.holds.has(`${slash > 0 ? absPath.slice(0, slash) : '/'}\0${absPath.slice(slash + 1)}`);
  }

  /** How many files have an entry (for tests and logs). */
  get size(): number {
    return this.entries.size;
  }
}

/** Reads a test file for discovery: its text, and what the cache keys it by. */
export function readTestFile(absPath: fs.PathLike): { text: string; read: ReadFile } {
  const stamp = stampOf(absPath);
  const bytes = fs.readFileSync(absPath);
  return { text: bytes.toString('utf8'), read: { hash: hashBytes(bytes), stamp } };
}

/** What keys a text discovery read other than from disk (an editor's unsaved document): no stamp. */
export function readText(text: string): ReadFile {
  return { hash: hashText(text), stamp: undefined };
}

export function hashText(text: string): string {
  return digest(text);
}

function hashBytes(bytes: Buffer): string {
  return digest(bytes);
}

const oneShot = (crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'base64') => string }).hash;
function digest(data: string | Buffer): string {
  return oneShot ? oneShot('sha1', data, 'base64') : crypto.createHash('sha1').update(data).digest('base64');
}

function stampOf(absPath: fs.PathLike): FileStamp | undefined {
  const stat = fs.statSync(absPath, { throwIfNoEntry: false });
  return stat ? { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino } : undefined;
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}


function hashFacts(facts: DependencyFacts): HashedFacts {
  const texts = new Map<string, string>();
  for (const [file, text] of facts.texts) texts.set(file, hashText(text));
  return { texts, holds: facts.holds, files: facts.files };
}

/** Whether every fact of `facts` is already in `known`, with the same answer. */
function knownFacts(facts: HashedFacts, known: HashedFacts): boolean {
  const within = <T>(x: Map<string, T>, y: Map<string, T>) => {
    for (const [k, v] of x) if (y.get(k) !== v) return false;
    return true;
  };
  return within(facts.texts, known.texts) && within(facts.holds, known.holds) && within(facts.files, known.files);
}

export function mergeFacts(all: HashedFacts[]): HashedFacts {
  const merged: HashedFacts = { texts: new Map(), holds: new Map(), files: new Map() };
  for (const facts of all) {
    for (const [k, v] of facts.texts) merged.texts.set(k, v);
    for (const [k, v] of facts.holds) merged.holds.set(k, v);
    for (const [k, v] of facts.files) merged.files.set(k, v);
  }
  return merged;
}

/** Hashes a ProjectModules' facts for another thread or the cache file. */
export function factsForCache(facts: DependencyFacts): HashedFacts {
  return hashFacts(facts);
}
