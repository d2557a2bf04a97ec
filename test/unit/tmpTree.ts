// A throwaway folder holding `files` (relative path → text), for tests that read trees from disk.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function makeTree(files: Record<string, string>, prefix = 'distest-tree-'): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}
