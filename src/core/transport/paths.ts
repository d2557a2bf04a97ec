// Where a workspace file lives on a remote host: the local workspace root corresponds to one remote
// root per host. Paths outside the root (interpreters, system libraries in tracebacks) are left alone.
import path from 'node:path';

export interface PathMap {
  toRemote(localPath: string): string;
  toLocal(remotePath: string): string;
}

/** Identity when `remoteRoot` is undefined (a shared file system, as on most clusters). */
export function pathMapFor(localRoot: string, remoteRoot: string | undefined): PathMap {
  if (remoteRoot === undefined) return { toRemote: p => p, toLocal: p => p };
  if (!path.posix.isAbsolute(remoteRoot)) throw new Error(`remote root must be an absolute path: ${remoteRoot}`);
  const local = path.resolve(localRoot);
  const remote = path.posix.normalize(remoteRoot).replace(/(.)\/$/, '$1');
  return {
    toRemote(localPath) {
      const rel = path.relative(local, path.resolve(local, localPath));
      if (rel.startsWith('..') || path.isAbsolute(rel)) return localPath;
      return rel ? path.posix.join(remote, ...rel.split(path.sep)) : remote;
    },
    toLocal(remotePath) {
      const rel = path.posix.relative(remote, path.posix.resolve(remote, remotePath));
      if (rel.startsWith('..') || path.posix.isAbsolute(rel)) return remotePath;
      return rel ? path.join(local, ...rel.split('/')) : local;
    },
  };
}
