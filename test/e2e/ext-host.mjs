#!/usr/bin/env node
// Runs the mocha suite in test/e2e/suite/ inside code-server's real Node extension host, the way
// @vscode/test-web does for the web worker host: the workbench URL carries a `payload` with
//   extensionDevelopmentPath = vscode-remote://<host:port>/<repo root>            (main: dist/extension.js)
//   extensionTestsPath       = vscode-remote://<host:port>/<repo>/out/test/e2e/suite/index
// VS Code loads the extension from the repository, require()s the suite in its extension host, awaits
// run() and reports the exit code through window.codeAutomationExit, which we provide.
//
// usage: node test/e2e/ext-host.mjs     env: VERBOSE=1 (all workbench logs)   last line: `N passed, N failed`
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import { repoRoot } from '../../scripts/lib/bootstrap.mjs';
import { clearShots, copyLogs, openSession, requireComponents, shotsDir } from './harness.mjs';

const TIMEOUT_MS = Number(process.env.DISTEST_E2E_TIMEOUT_MS || 240_000);
const verbose = !!process.env.VERBOSE;
// Workbench chatter that says nothing about the suite.
const noise = /Resolving connection token|Resolved connection token|Creating a socket|Creation of workbench contribution|ChatSessionStore|additional builtin extensions|Service Worker|open-vsx|Extension host .* started|Started local extension host|ENOTFOUND|vsda/;

requireComponents();
const t0 = Date.now();
const seconds = () => ((Date.now() - t0) / 1000).toFixed(1);
clearShots('ext-host-');

console.log('building the extension and the suite…');
const build = spawnSync('node', ['scripts/build.mjs', '--tests'], { cwd: repoRoot, stdio: 'inherit' });
const suiteIndex = path.join(repoRoot, 'out/test/e2e/suite/index.js');
if (build.status !== 0 || !fs.existsSync(suiteIndex)) {
  console.log(`FAIL build (exit ${build.status}; ${suiteIndex} ${fs.existsSync(suiteIndex) ? 'exists' : 'missing'})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const resultFile = path.join(repoRoot, '.e2e/ext-host-result.json');
fs.rmSync(resultFile, { force: true });
let code = 'setup failed';
let session;
try {
  session = await openSession({ name: 'ext-host', env: { DISTEST_E2E_RESULT: resultFile } });
  const { page } = session;
  console.log(`code-server up at ${session.server.base} after ${seconds()} s`);

  let reportExit;
  const exited = new Promise(resolve => (reportExit = resolve));
  // Mocha's reporter output reaches us only here, printf-style: (level, [format, ...args]).
  await page.exposeFunction('codeAutomationLog', (level, args) => {
    const line = format(...(Array.isArray(args) ? args : [args]));
    if (verbose || !noise.test(line)) console.log(level === 'error' ? `[error] ${line}` : line);
  });
  await page.exposeFunction('codeAutomationExit', exitCode => reportExit(exitCode));

  const remote = p => `vscode-remote://127.0.0.1:${session.server.port}${p}`;
  await page.goto(session.workbenchUrl(session.workspace, [
    ['extensionDevelopmentPath', remote(repoRoot)],
    ['extensionTestsPath', remote(suiteIndex.replace(/\.js$/, ''))],
  ]));
  code = await Promise.race([exited, new Promise(r => setTimeout(() => r(`timeout after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS))]);
  await page.screenshot({ path: path.join(shotsDir, `ext-host-final${code === 0 ? '' : '-FAILED'}.png`) }).catch(() => undefined);
  if (code !== 0) console.log(`logs: ${copyLogs(session, path.join(session.dir, 'artifacts')).length} files in ${path.join(session.dir, 'artifacts')}`);
} catch (err) {
  console.log(`FAIL ${err?.stack ?? err}`);
} finally {
  await session?.close();
}

console.log(`extension host suite exit code: ${code} (after ${seconds()} s)`);
const counts = fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, 'utf8')) : { passes: 0, failures: 1 };
const failures = code === 0 ? counts.failures : Math.max(counts.failures, 1);
console.log(`${counts.passes} passed, ${failures} failed`);
process.exit(code === 0 && failures === 0 ? 0 : 1);
