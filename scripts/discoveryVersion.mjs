// The discovery version every bundle is built with (esbuild `define`, read by src/core/discovery/cache.ts):
// the package version plus a hash of what decides discovery's answers (its sources and the tree-sitter
// grammar), so that a distest upgrade, or a rebuilt checkout whose discovery changed, never reuses what
// an older build cached.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { globSync } from 'glob';

export function discoveryVersion(root) {
  const hash = crypto.createHash('sha1');
  const files = [
    ...globSync('src/core/discovery/**/*.ts', { cwd: root }).sort(),
    'src/core/types.ts', 'src/core/fsNames.ts',
    'node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/tree-sitter-python/tree-sitter-python.wasm',
  ];
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
  }
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  return `${version}+${hash.digest('hex').slice(0, 16)}`;
}

/** The esbuild `define` that carries it. */
export function discoveryVersionDefine(root) {
  return { DISTEST_DISCOVERY_VERSION: JSON.stringify(discoveryVersion(root)) };
}
