// Copies a workspace to a remote root over SFTP before a run, when the host does not share the file
// system. Only files whose size or mtime differ from the remote copy travel; .git and what .gitignore
// (simple patterns) or the caller's ignore list name are skipped. Nothing remote is deleted.
import fs from 'node:fs';
import path from 'node:path';
import { minimatch } from 'minimatch';
import type { FileEntry, SFTPWrapper, Stats } from 'ssh2';

export interface SftpCapable {
  readonly name: string;
  sftp(): Promise<SFTPWrapper>;
}

export interface SyncOptions {
  /** Extra gitignore-style patterns, on top of the root .gitignore. */
  ignore?: string[];
  /** Parallel file transfers. */
  concurrency?: number;
}

export interface SyncReport {
  /** Relative (posix) paths copied this time. */
  copied: string[];
  unchanged: number;
}

interface LocalFile { rel: string; abs: string; size: number; mtimeSec: number; atimeSec: number; mode: number }

/** gitignore-lite: `#` comments, `!` negation, trailing `/` for folders, a `/` inside anchors to the root. */
export function makeIgnoreMatcher(patterns: string[]): (rel: string, isDir: boolean) => boolean {
  const rules = patterns.map(p => p.trim()).filter(p => p && !p.startsWith('#')).map(p => {
    const negated = p.startsWith('!');
    let glob = negated ? p.slice(1) : p;
    const dirOnly = glob.endsWith('/');
    if (dirOnly) glob = glob.slice(0, -1);
    const anchored = glob.includes('/');
    return { negated, dirOnly, anchored, glob: glob.replace(/^\//, '') };
  });
  return (rel, isDir) => {
    let ignored = false;
    for (const rule of rules) {
      if (rule.dirOnly && !isDir) continue;
      if (minimatch(rel, rule.glob, { dot: true, matchBase: !rule.anchored })) ignored = !rule.negated;
    }
    return ignored;
  };
}

function readGitignore(root: string): string[] {
  try {
    return fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n');
  } catch {
    return [];
  }
}

function walkLocal(root: string, ignored: (rel: string, isDir: boolean) => boolean): { files: LocalFile[]; dirs: string[] } {
  const files: LocalFile[] = [];
  const dirs: string[] = [''];
  for (let i = 0; i < dirs.length; i++) {
    const dirRel = dirs[i];
    for (const entry of fs.readdirSync(path.join(root, dirRel), { withFileTypes: true })) {
      const rel = dirRel ? `${dirRel}/${entry.name}` : entry.name;
      if (entry.name === '.git') continue;
      if (entry.isDirectory()) {
        if (!ignored(rel, true)) dirs.push(rel);
      } else if (entry.isFile() && !ignored(rel, false)) {
        const abs = path.join(root, rel);
        const st = fs.statSync(abs);
        files.push({ rel, abs, size: st.size, mtimeSec: Math.floor(st.mtimeMs / 1000), atimeSec: Math.floor(st.atimeMs / 1000), mode: st.mode & 0o777 });
      }
    }
  }
  return { files, dirs };
}

function call<T>(what: string, run: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(Object.assign(new Error(`${what}: ${err.message}`), { code: (err as { code?: unknown }).code })) : resolve(value))));
}

const SFTP_NO_SUCH_FILE = 2;

async function remoteListing(sftp: SFTPWrapper, dir: string): Promise<Map<string, Stats>> {
  try {
    const entries = await call<FileEntry[]>(`list ${dir}`, cb => sftp.readdir(dir, cb));
    return new Map(entries.map(e => [e.filename, e.attrs as Stats]));
  } catch (err) {
    if ((err as { code?: number }).code === SFTP_NO_SUCH_FILE) return new Map();
    throw err;
  }
}

async function ensureRemoteDir(sftp: SFTPWrapper, dir: string): Promise<void> {
  try {
    await call<void>(`mkdir ${dir}`, cb => sftp.mkdir(dir, err => cb(err, undefined)));
  } catch (err) {
    const attrs = await call<Stats>(`stat ${dir}`, cb => sftp.stat(dir, cb)).catch(() => undefined);
    if (!attrs?.isDirectory()) throw err;
  }
}

export async function syncFolder(host: SftpCapable, localRoot: string, remoteRoot: string, opts: SyncOptions = {}): Promise<SyncReport> {
  if (!path.posix.isAbsolute(remoteRoot)) throw new Error(`remote root must be an absolute path: ${remoteRoot}`);
  const ignored = makeIgnoreMatcher([...readGitignore(localRoot), ...(opts.ignore ?? [])]);
  const { files, dirs } = walkLocal(localRoot, ignored);
  const sftp = await host.sftp();
  const remotePath = (rel: string): string => (rel ? path.posix.join(remoteRoot, rel) : remoteRoot);
  const listings = new Map<string, Map<string, Stats>>();
  for (const dir of dirs) {
    const remoteDir = remotePath(dir);
    // Parents come first in `dirs`, so a missing folder is created before its children are listed.
    if (dir === '') {
      for (let parent = '/', parts = remoteRoot.split('/').filter(Boolean), i = 0; i < parts.length; i++) {
        parent = path.posix.join(parent, parts[i]);
        await ensureRemoteDir(sftp, parent);
      }
    } else {
      await ensureRemoteDir(sftp, remoteDir);
    }
    listings.set(dir, await remoteListing(sftp, remoteDir));
  }
  const changed = files.filter(f => {
    const dir = f.rel.includes('/') ? f.rel.slice(0, f.rel.lastIndexOf('/')) : '';
    const remote = listings.get(dir)?.get(path.posix.basename(f.rel));
    return !remote || remote.size !== f.size || remote.mtime !== f.mtimeSec;
  });
  const queue = [...changed];
  const worker = async (): Promise<void> => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const target = remotePath(f.rel);
      const file = f;
      await call<void>(`copy ${file.rel} to ${host.name}:${target}`, cb => sftp.fastPut(file.abs, target, { mode: file.mode }, err => cb(err, undefined)));
      await call<void>(`set mtime of ${target}`, cb => sftp.utimes(target, file.atimeSec, file.mtimeSec, err => cb(err, undefined)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, Math.max(1, changed.length)) }, worker));
  return { copied: changed.map(f => f.rel), unchanged: files.length - changed.length };
}
