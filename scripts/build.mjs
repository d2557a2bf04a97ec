// One esbuild pass for everything that ships (extension, language server, CLI, webviews, agent and
// wasm assets into dist/) and, with --tests, for the test suites (into out/test/).
import * as esbuild from 'esbuild';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { globSync } from 'glob';
import { discoveryVersionDefine } from './discoveryVersion.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const withTests = args.has('--tests');
const dist = path.join(root, 'dist');

const nodeCommon = {
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: !production,
  minify: production, logLevel: 'warning', absWorkingDir: root,
  // ssh2's optional native helpers are loaded inside try/catch; the pure-JS fallback is what ships.
  external: ['vscode', 'cpu-features', './crypto/build/Release/sshcrypto.node'],
  define: discoveryVersionDefine(root),
};

function copyAssets() {
  fs.mkdirSync(path.join(dist, 'agent'), { recursive: true });
  for (const f of globSync('src/agent/*.py', { cwd: root })) fs.copyFileSync(path.join(root, f), path.join(dist, 'agent', path.basename(f)));
  fs.copyFileSync(path.join(root, 'node_modules/web-tree-sitter/tree-sitter.wasm'), path.join(dist, 'tree-sitter.wasm'));
  fs.copyFileSync(path.join(root, 'node_modules/tree-sitter-python/tree-sitter-python.wasm'), path.join(dist, 'tree-sitter-python.wasm'));
  const media = path.join(dist, 'media');
  fs.mkdirSync(media, { recursive: true });
  fs.copyFileSync(path.join(root, 'node_modules/@xterm/xterm/css/xterm.css'), path.join(media, 'xterm.css'));
}

// ssh2 is about half of a bundle's bytes and only an SSH connection needs it (connect.ts requires it
// then): it ships as dist/ssh2.js of its own, so a local run, a listing or the editor's start never
// reads and parses it.
const ssh2Apart = {
  name: 'ssh2-apart',
  setup(build) {
    build.onResolve({ filter: /^ssh2$/ }, () => ({ path: './ssh2.js', external: true }));
  },
};

const entries = [
  { in: 'src/extension.ts', out: 'extension' },
  { in: 'src/server/server.ts', out: 'server' },
  { in: 'src/cli.ts', out: 'cli-main' },
  { in: 'node_modules/ssh2/lib/index.js', out: 'ssh2', plugins: [] },
].filter(e => fs.existsSync(path.join(root, e.in)));

const builds = entries.map(e => esbuild.build({
  ...nodeCommon, entryPoints: [path.join(root, e.in)], outfile: path.join(dist, `${e.out}.js`), plugins: e.plugins ?? [ssh2Apart],
}));

const webviews = globSync('media/*.{ts,mts}', { cwd: root });
if (webviews.length) {
  builds.push(esbuild.build({
    bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: !production, minify: production,
    logLevel: 'warning', absWorkingDir: root, entryPoints: webviews.map(f => path.join(root, f)), outdir: path.join(dist, 'media'),
  }));
}

if (withTests) {
  // Compiled tests of renamed or deleted files would still run: start from an empty folder.
  fs.rmSync(path.join(root, 'out/test'), { recursive: true, force: true });
  const tests = globSync('test/{unit,integration,e2e/suite}/**/*.ts', { cwd: root });
  if (tests.length) {
    builds.push(esbuild.build({
      ...nodeCommon, sourcemap: true, minify: false, entryPoints: tests.map(f => path.join(root, f)),
      outdir: path.join(root, 'out/test'), outbase: path.join(root, 'test'),
      external: [...nodeCommon.external, 'mocha'],
    }));
  }
}

fs.mkdirSync(dist, { recursive: true });
copyAssets();
await Promise.all(builds);
// dist/cli.js runs dist/cli-main.js through V8's code cache (src/cliLauncher.ts), keyed by its content.
const cliMain = path.join(dist, 'cli-main.js');
if (fs.existsSync(cliMain)) {
  const hash = crypto.createHash('sha256').update(fs.readFileSync(cliMain)).digest('hex');
  await esbuild.build({
    ...nodeCommon, sourcemap: false, entryPoints: [path.join(root, 'src/cliLauncher.ts')], outfile: path.join(dist, 'cli.js'),
    banner: { js: '#!/usr/bin/env node' }, define: { ...nodeCommon.define, DISTEST_CLI_MAIN_HASH: JSON.stringify(hash) },
  });
  fs.chmodSync(path.join(dist, 'cli.js'), 0o755);
  // The `distest` command: a shell script starting node on cli.js (src/distest.sh says why).
  fs.copyFileSync(path.join(root, 'src/distest.sh'), path.join(dist, 'distest'));
  fs.chmodSync(path.join(dist, 'distest'), 0o755);
}
