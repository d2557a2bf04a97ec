// dist/cli.js: runs the command line (dist/cli-main.js) from V8's code cache when it has one. Compiling
// the bundle's functions is ~20 ms of every `distest` command; the cache holds them as V8 compiled them
// the first time (top level and every function that command ran), in $XDG_CACHE_HOME/distest/v8, keyed
// by the bundle's content hash (the build defines it), node's version and the architecture. V8 checks
// the rest (its version, flags) and rejects a cache that does not fit; then it is written anew. Any
// problem with the cache only costs the compile: the command runs all the same.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { cliCacheHome } from './cacheHome';
import { restoreExtraCaCerts } from './core/extraCaCerts';

/** The SHA-256 of dist/cli-main.js (scripts/build.mjs). */
declare const DISTEST_CLI_MAIN_HASH: string;

// dist/distest started node without the user's NODE_EXTRA_CA_CERTS (src/distest.sh).
restoreExtraCaCerts();

const main = path.join(__dirname, 'cli-main.js');
const cacheDir = path.join(cliCacheHome(), 'v8');
const cacheName = `cli-${DISTEST_CLI_MAIN_HASH.slice(0, 16)}-${process.version}-${process.arch}.bin`;

runMain();

function runMain(): void {
  const cacheFile = path.join(cacheDir, cacheName);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // none yet, or unreadable: compiled as usual, written at exit
  }
  // No importModuleDynamically: the bundle must not reach an import() (parser.ts hands web-tree-sitter bytes).
  const script = new vm.Script(wrap(fs.readFileSync(main, 'utf8')), { filename: main, cachedData });
  if (!cachedData || script.cachedDataRejected) process.once('exit', () => saveCache(script, cacheFile));
  const mod = { exports: {}, filename: main, id: main, loaded: false };
  const run = script.runInThisContext() as (exports: object, req: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  run(mod.exports, createRequire(main), mod, main, path.dirname(main));
}

/** The bundle as CommonJS wraps a module (its own `require`, `module`, `__filename`, `__dirname`). */
function wrap(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
}

/**
 * At exit, so the cache also holds the functions this command compiled lazily. Written whole or not at
 * all (a rename), and the caches of other builds go.
 */
function saveCache(script: vm.Script, cacheFile: string): void {
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${cacheFile}.${process.pid}.partial`;
    fs.writeFileSync(partial, script.createCachedData());
    fs.renameSync(partial, cacheFile);
    for (const name of fs.readdirSync(cacheDir)) {
      if (name !== cacheName && /^cli-.*\.bin$/.test(name)) fs.rmSync(path.join(cacheDir, name), { force: true });
    }
  } catch {
    // a read-only or full cache folder: the next command compiles again
  }
}
