// Where the project is on the machine that launches the ranks. Shared file systems (the usual cluster,
// or VS Code itself on the login node) need nothing: the local path is used. A host with a remote root
// (`distest.remoteRoots`) runs there instead, with distest's agent uploaded beside the project and,
// when asked, the project itself synced first (changed files only). Results name files relative to
// the root, so they map back onto the local folder unchanged.
import path from 'node:path';
import { assetDir } from '../assets';
import type { Allocation } from '../allocation/allocation';
import { syncFolder, type SftpCapable } from '../transport/sync';

export interface Placement {
  /** The project root on the launching machine. */
  root: string;
  /** Where the ranks find agent/ (absent: next to this bundle, on a shared file system). */
  assetDir?: string;
  /** What was done, for the run's output. */
  note?: string;
}

export interface PlacementSettings {
  /** ssh alias of the launching host → absolute project path there. */
  remoteRoots: Record<string, string>;
  /** Copy changed workspace files to the remote root before each run. */
  syncBeforeRun: boolean;
}

export async function placeProject(alloc: Allocation, localRoot: string, settings: PlacementSettings): Promise<Placement> {
  const remoteRoot = settings.remoteRoots[alloc.host.name];
  if (remoteRoot === undefined || !isSftpCapable(alloc.host)) return { root: localRoot };
  if (!path.posix.isAbsolute(remoteRoot)) throw new Error(`distest.remoteRoots["${alloc.host.name}"] must be an absolute path, got ${remoteRoot}`);
  const remoteAssets = path.posix.join(remoteRoot, '.distest');
  const agent = await syncFolder(alloc.host, path.join(assetDir(), 'agent'), path.posix.join(remoteAssets, 'agent'));
  const parts = [`project at ${alloc.host.name}:${remoteRoot}`];
  if (agent.copied.length) parts.push(`agent updated (${agent.copied.length} files)`);
  if (settings.syncBeforeRun) {
    const project = await syncFolder(alloc.host, localRoot, remoteRoot, { ignore: ['.distest/'] });
    parts.push(`synced ${project.copied.length} changed files (${project.unchanged} unchanged)`);
  }
  return { root: remoteRoot, assetDir: remoteAssets, note: parts.join('; ') };
}

function isSftpCapable(host: Allocation['host']): host is Allocation['host'] & SftpCapable {
  return typeof (host as Partial<SftpCapable>).sftp === 'function';
}
