// One real-VS-Code session for a test runner: a fresh profile and a copy of examples/ under
// .e2e/<name>/, code-server on a free port in its own process group, and a headless Chromium page.
// Everything is stopped on close(), on SIGINT/SIGTERM and (as a last resort) on process exit.
import fs from 'node:fs';
import path from 'node:path';
import { chromiumPath, codeServerInstalled, codeServerPrefix, repoRoot } from '../../scripts/lib/bootstrap.mjs';
import { launchChromium } from '../../scripts/lib/browser.mjs';
import { createProfile, installExtension, pythonPathSetting, quietSettings, startCodeServer } from '../../scripts/lib/codeServer.mjs';
import { freePort, onInterrupt } from '../../scripts/lib/processes.mjs';

export const e2eDir = path.join(repoRoot, '.e2e');
export const shotsDir = path.join(e2eDir, 'shots');
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** Exits with a clear message (and a failed count) when code-server or Chromium is missing. */
export function requireComponents() {
  const missing = [];
  if (!codeServerInstalled()) missing.push(`code-server is not installed in ${codeServerPrefix}: run  bash scripts/install-code-server.sh  (about a minute)`);
  if (!fs.existsSync(chromiumPath)) missing.push(`Chromium is not at ${chromiumPath}: run  apt-get install chromium  or set CHROMIUM_PATH`);
  if (missing.length === 0) return;
  for (const m of missing) console.error(m);
  console.error(isCI ? 'CI=true: a missing component is a failure, not a skip.' : '`npm test` installs both when run as root.');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** Copies examples/ (without Python caches) so runs never dirty the repository. */
function copyDemoWorkspace(to) {
  fs.cpSync(path.join(repoRoot, 'examples'), to, {
    recursive: true,
    filter: src => !/(^|\/)(__pycache__|\.pytest_cache)$/.test(src),
  });
}

/**
 * @param {object} o
 * @param {string} o.name      folder under .e2e/ (recreated empty)
 * @param {string} [o.vsix]    extension to install into the profile
 * @param {object} [o.settings] user settings on top of the quiet ones
 * @param {object} [o.env]     extra environment for code-server (reaches the extension host)
 */
export async function openSession({ name, vsix, settings = {}, env = {} }) {
  const dir = path.join(e2eDir, name);
  const profile = createProfile(dir, { ...quietSettings, ...pythonPathSetting(), ...settings });
  const workspace = path.join(dir, 'workspace');
  copyDemoWorkspace(workspace);
  if (vsix) installExtension(profile, vsix);
  const server = await startCodeServer(profile, { port: await freePort(), env });
  let browser;
  const close = async () => {
    await browser?.close().catch(() => undefined);
    await server.stop();
  };
  onInterrupt(close);
  try {
    browser = await launchChromium();
  } catch (err) {
    await server.stop();
    throw err;
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  return {
    dir, profile, workspace, server, browser, page, close,
    /** The workbench URL for `folder`, optionally with the extension-test `payload` route. */
    workbenchUrl(folder, payload) {
      const query = `folder=${encodeURIComponent(folder)}`;
      return `${server.base}/?${query}${payload ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''}`;
    },
  };
}

/** Copies the extension host logs and distest's output channel log of `session` into `to`. */
export function copyLogs(session, to) {
  const logsDir = path.join(session.profile.userDataDir, 'logs');
  const wanted = f => /exthost.*\.log$/.test(path.basename(f)) || /distest/i.test(f);
  const copied = [];
  const walk = dir => {
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (wanted(path.relative(logsDir, full))) {
        const dest = path.join(to, path.relative(logsDir, full));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.copyFileSync(full, dest);
        copied.push(dest);
      }
    }
  };
  walk(logsDir);
  fs.mkdirSync(to, { recursive: true });
  fs.copyFileSync(session.profile.logFile, path.join(to, 'code-server.log'));
  return copied;
}

/** Removes earlier screenshots whose names start with `prefix`. */
export function clearShots(prefix) {
  fs.mkdirSync(shotsDir, { recursive: true });
  for (const f of fs.readdirSync(shotsDir)) if (f.startsWith(prefix)) fs.rmSync(path.join(shotsDir, f));
}
