import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './bootstrap.mjs';

export const vsixPath = path.join(repoRoot, 'dist/distest.vsix');

/** `npm run package`: production bundle + dist/distest.vsix. Throws with the tool's output on failure. */
export function packageExtension() {
  const r = spawnSync('npm', ['run', '-s', 'package'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(vsixPath)) {
    throw new Error(`npm run package failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
  return vsixPath;
}
