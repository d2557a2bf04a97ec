#!/usr/bin/env node
// `npm test`: the one command on a fresh clone. Bootstraps what the suites need (npm dependencies,
// Debian packages when root, the code-server cache), then runs typecheck, lint, unit, integration and
// the real-VS-Code suites (the last three a second time with /usr/bin moved on PATH), and closes with one
// `N passed, N failed` line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ensureAptPackages, ensureChromium, ensureCodeServer, ensureNpmDeps, TEST_APT_PACKAGES } from './lib/bootstrap.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);
const ci = process.env.CI === 'true' || process.env.CI === '1';

function run(label, cmd, args, env = {}) {
  return new Promise(resolve => {
    const started = Date.now();
    console.log(`\n=== ${label}: ${[cmd, ...args].join(' ')}`);
    let output = '';
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', b => { output += b; process.stdout.write(b); });
    child.stderr.on('data', b => { output += b; process.stderr.write(b); });
    child.on('close', code => {
      console.log(`=== ${label}: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      resolve({ label, code, output });
    });
  });
}

/** Test counts from node's spec reporter (`ℹ pass 12`) or a plain `N passed, N failed` line. */
function counts({ code, output }) {
  const num = re => { const m = [...output.matchAll(re)].pop(); return m ? Number(m[1]) : undefined; };
  const passed = num(/^ℹ pass (\d+)$/gm) ?? num(/^(\d+) passed, \d+ failed/gm);
  const failed = num(/^ℹ fail (\d+)$/gm) ?? num(/^\d+ passed, (\d+) failed/gm);
  if (passed === undefined) return { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 };
  return { passed, failed: Math.max(failed ?? 0, code === 0 ? 0 : 1) };
}

/**
 * The suites that run tests under real pythons run twice: with PATH as given, then with the other order
 * of Debian's /usr/bin (first, or last when it already comes first), so neither a pyenv `python3`
 * ahead of Debian's nor the reverse can hide a PATH dependence.
 */
function otherPathOrder(pathVar) {
  const dirs = pathVar.split(path.delimiter).filter(Boolean);
  const rest = dirs.filter(d => d !== '/usr/bin');
  return dirs[0] === '/usr/bin'
    ? { label: '/usr/bin last on PATH', PATH: [...rest, '/usr/bin'].join(path.delimiter) }
    : { label: '/usr/bin first on PATH', PATH: ['/usr/bin', ...rest].join(path.delimiter) };
}

const secondOrder = otherPathOrder(process.env.PATH ?? '');
const pathDependent = [
  ['integration', 'node', ['--test', '--test-concurrency=1', '--test-reporter=spec', 'out/test/integration/']],
  ['e2e-ui', 'node', ['test/e2e/run.mjs']],
  ['e2e-extension-host', 'node', ['test/e2e/ext-host.mjs']],
];
const suites = [
  ['typecheck', 'npx', ['tsc', '-p', '.', '--noEmit']],
  ['lint', 'npx', ['eslint', 'src', 'test', 'scripts', 'bench']],
  ['unit', 'node', ['--test', '--test-reporter=spec', 'out/test/unit/']],
  ...pathDependent,
  ...pathDependent.map(([label, cmd, args]) => [label, cmd, args, { PATH: secondOrder.PATH }, `${label} (${secondOrder.label})`]),
].filter(([label]) => only.length === 0 || only.includes(label));

ensureNpmDeps();
const aptReady = ensureAptPackages(TEST_APT_PACKAGES);
const needsBrowser = suites.some(([label]) => label.startsWith('e2e'));
const codeServerReady = needsBrowser ? ensureCodeServer() && ensureChromium() : true;
if (ci && (!aptReady || !codeServerReady)) {
  console.error('CI=true: a system component the tests need is missing (see above); failing instead of skipping.');
  process.exit(1);
}

const build = await run('build', 'node', ['scripts/build.mjs', '--tests']);
if (build.code !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
let passed = 0;
let failed = 0;
const failedSuites = [];
for (const [label, cmd, args, env = {}, title = label] of suites) {
  const result = await run(title, cmd, args, { ...env, ...(ci ? { CI: 'true' } : {}) });
  const c = counts(result);
  passed += c.passed;
  failed += c.failed;
  if (result.code !== 0) failedSuites.push(title);
}
console.log(`\nsuites failed: ${failedSuites.length ? failedSuites.join(', ') : 'none'}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failedSuites.length ? 1 : 0);
