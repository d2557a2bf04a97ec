import fs from 'node:fs';
import path from 'node:path';

/**
 * The folder holding what ships beside the bundles (agent/*.py, *.wasm, media/). The bundles live in
 * dist/ and tests in out/test/..., so walk up from this module until a folder has agent/ in dist/.
 */
export function assetDir(start: string = __dirname): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    for (const candidate of [dir, path.join(dir, 'dist')]) {
      if (fs.existsSync(path.join(candidate, 'agent', 'distest_pytest.py'))) return candidate;
    }
    if (path.dirname(dir) === dir) throw new Error(`distest assets (agent/, *.wasm) not found above ${start}: run the build first`);
  }
}
