import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Folder { uri: string; path: string }

/** A file inside a workspace folder: `rel` is relative to the folder, forward slashes (as in test ids). */
export interface LocatedFile { folder: Folder; rel: string; path: string }

/** The workspace folders, and which one a URI belongs to (the innermost, for nested folders). */
export class FolderMap {
  private folders: Folder[] = [];

  add(uri: string): Folder {
    const existing = this.folders.find(f => f.uri === uri);
    if (existing) return existing;
    const folder = { uri, path: path.resolve(fileURLToPath(uri)) };
    this.folders.push(folder);
    this.folders.sort((a, b) => b.path.length - a.path.length);
    return folder;
  }

  remove(uri: string): void {
    this.folders = this.folders.filter(f => f.uri !== uri);
  }

  locate(uri: string): LocatedFile | undefined {
    if (!uri.startsWith('file:')) return undefined;
    let filePath: string;
    try {
      filePath = path.resolve(fileURLToPath(uri));
    } catch {
      return undefined;
    }
    for (const folder of this.folders) {
      const rel = path.relative(folder.path, filePath);
      if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return { folder, rel: rel.split(path.sep).join('/'), path: filePath };
    }
    return undefined;
  }

  locateRel(folder: Folder, rel: string): LocatedFile {
    return { folder, rel, path: path.join(folder.path, ...rel.split('/')) };
  }

  fileUri(folderPath: string, rel: string): { uri: string; path: string } {
    const filePath = path.join(folderPath, ...rel.split('/'));
    return { uri: pathToFileURL(filePath).href, path: filePath };
  }
}
