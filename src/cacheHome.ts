import os from 'node:os';
import path from 'node:path';

/** The command line's caches: `$XDG_CACHE_HOME/distest` (default `~/.cache/distest`), shared by every project. */
export function cliCacheHome(): string {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'distest');
}
