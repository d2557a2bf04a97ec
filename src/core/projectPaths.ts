// The one mapping between the paths ranks report and the files here. The ranks run in the project's
// folder on the launching host (the run root: the local folder itself on a shared file system, the
// `distest.remoteRoots` path elsewhere); results, hang and crash stacks and log lines name files
// relative to it, or absolute there. The editor opens them in the local folder.
import path from 'node:path';

export class ProjectPaths {
  private readonly local: string;
  private readonly run: string;

  /** `runRoot`: where the project is on the launching host; the local folder when absent. */
  constructor(localRoot: string, runRoot?: string) {
    this.local = path.resolve(localRoot);
    if (runRoot !== undefined && !path.posix.isAbsolute(runRoot)) throw new Error(`remote root must be an absolute path: ${runRoot}`);
    this.run = runRoot === undefined ? this.local : path.posix.normalize(runRoot).replace(/(.)\/$/, '$1');
  }

  /** The project's folder where the ranks run. */
  get runRoot(): string {
    return this.run;
  }

  /**
   * A file as the ranks name it, relative to the project (`/`-separated) when it is the user's code:
   * inside the run root and not an installed package (site-packages, dist-packages, a virtualenv under
   * the root). Else null.
   */
  workspaceFile(file: string): string | null {
    if (!path.posix.isAbsolute(file)) return file.startsWith('<') || file.startsWith('..') ? null : file.replace(/\\/g, '/');
    const relative = path.posix.relative(this.run, file);
    if (!relative || relative.startsWith('..') || path.posix.isAbsolute(relative)) return null;
    if (/(^|\/)(site-packages|dist-packages|\.venv|venv)\//.test(relative)) return null;
    return relative;
  }

  /**
   * Where to open here a file a result, stack or log line names: relative → under the local folder;
   * absolute under the run root → its local twin; any other absolute path (an interpreter's library,
   * a file only the launching host has) as it is.
   */
  localPath(file: string): string {
    if (!path.posix.isAbsolute(file)) return path.join(this.local, ...file.split('/'));
    const relative = path.posix.relative(this.run, file);
    if (relative.startsWith('..') || path.posix.isAbsolute(relative)) return file;
    return relative ? path.join(this.local, ...relative.split('/')) : this.local;
  }

  /** A local path inside the project → the same file under the run root; other paths as they are. */
  runPath(localPath: string): string {
    const relative = path.relative(this.local, path.resolve(this.local, localPath));
    if (relative.startsWith('..') || path.isAbsolute(relative)) return localPath;
    return relative ? path.posix.join(this.run, ...relative.split(path.sep)) : this.run;
  }
}
