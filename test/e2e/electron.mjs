#!/usr/bin/env node
// `npm run test:electron`: the same extension-host suite (test/e2e/suite/) in VS Code desktop through
// @vscode/test-electron. It downloads VS Code unless VSCODE_EXECUTABLE names an installed one; where
// that download is impossible (offline machines) it says so and fails; test/e2e/ext-host.mjs runs
// the same suite in code-server instead.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { repoRoot } from '../../scripts/lib/bootstrap.mjs';

const build = spawnSync('node', ['scripts/build.mjs', '--tests'], { cwd: repoRoot, stdio: 'inherit' });
if (build.status !== 0) process.exit(1);

const runDir = path.join(repoRoot, '.e2e/electron');
fs.rmSync(runDir, { recursive: true, force: true });
const workspace = path.join(runDir, 'workspace');
fs.cpSync(path.join(repoRoot, 'examples'), workspace, { recursive: true, filter: src => !/(^|\/)(__pycache__|\.pytest_cache)$/.test(src) });

try {
  await runTests({
    vscodeExecutablePath: process.env.VSCODE_EXECUTABLE || undefined,
    version: '1.99.3',
    cachePath: path.join(repoRoot, '.cache/vscode-test'),
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: path.join(repoRoot, 'out/test/e2e/suite/index'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(runDir, 'user-data')],
  });
} catch (err) {
  const message = String(err?.message ?? err);
  if (!process.env.VSCODE_EXECUTABLE && /download|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|getaddrinfo|fetch|socket|network/i.test(message)) {
    console.error(`\nCould not download VS Code 1.99.3 for @vscode/test-electron (${message.split('\n')[0]}).`);
    console.error('Set VSCODE_EXECUTABLE=/path/to/code to use an installed VS Code, or run the same suite in code-server: node test/e2e/ext-host.mjs');
  } else {
    console.error(`extension host suite failed: ${message}`);
  }
  process.exit(1);
}
