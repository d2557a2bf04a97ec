#!/usr/bin/env node
// `npm start`: the distest demo in a browser VS Code (code-server) from a fresh clone. Installs what is
// missing, builds and packages the extension, installs it into a throwaway profile and opens
// examples/. Ctrl-C stops code-server and everything it started.
//
// usage: npm start [-- --port N] [-- --auth password]
//   --port N         listen on 127.0.0.1:N (default: a free port)
//   --auth password  require a password: $PASSWORD when set, else a generated one that is printed
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureAptPackages, ensureCodeServer, ensureNpmDeps, repoRoot, TEST_APT_PACKAGES } from './lib/bootstrap.mjs';
import { createProfile, installExtension, pythonPathSetting, quietSettings, startCodeServer } from './lib/codeServer.mjs';
import { packageExtension } from './lib/extension.mjs';
import { freePort, onInterrupt } from './lib/processes.mjs';

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const fail = message => {
  console.error(`npm start: ${message}`);
  process.exit(1);
};

let options;
try {
  ({ values: options } = parseArgs({ options: { port: { type: 'string' }, auth: { type: 'string', default: 'none' } } }));
} catch (err) {
  fail(`${err.message}\nusage: npm start [-- --port N] [-- --auth none|password]`);
}
if (!['none', 'password'].includes(options.auth)) fail(`--auth must be none or password, not "${options.auth}"`);
const requestedPort = options.port === undefined ? undefined : Number(options.port);
if (requestedPort !== undefined && !(Number.isInteger(requestedPort) && requestedPort > 0 && requestedPort < 65536)) {
  fail(`--port must be a TCP port number, not "${options.port}"`);
}

if (!ensureNpmDeps()) fail('installing npm dependencies failed (see above)');
if (!ensureAptPackages(TEST_APT_PACKAGES)) {
  console.warn('Continuing without them: the demo opens, but running tests needs MPI, mpi4py and pytest.');
}
if (!ensureCodeServer()) fail('code-server is not installed (see above)');

console.log(`[${elapsed()}] building and packaging the extension…`);
let vsix;
try {
  vsix = packageExtension();
} catch (err) {
  fail(err.message);
}

// One profile per run, named by our pid; profiles of runs that are gone are removed.
const runsDir = path.join(repoRoot, '.cache/start');
fs.mkdirSync(runsDir, { recursive: true });
for (const name of fs.readdirSync(runsDir)) {
  const pid = Number(name);
  if (pid && !isAlive(pid)) fs.rmSync(path.join(runsDir, name), { recursive: true, force: true });
}
const profile = createProfile(path.join(runsDir, String(process.pid)), { ...quietSettings, ...pythonPathSetting() });
console.log(`[${elapsed()}] installing ${path.relative(repoRoot, vsix)} into ${path.relative(repoRoot, profile.extensionsDir)}`);
installExtension(profile, vsix);

const server = await startCodeServer(profile, {
  port: requestedPort ?? await freePort(),
  folder: path.join(repoRoot, 'examples'),
  auth: options.auth,
}).catch(err => fail(err.message));
let stopping = false;
onInterrupt(() => {
  stopping = true;
  return server.stop();
});

console.log(`[${elapsed()}] code-server is running (log: ${path.relative(repoRoot, profile.logFile)})`);
if (options.auth === 'password') {
  console.log(server.password ? `password: ${server.password}` : 'password: the one in $PASSWORD');
}
console.log(`\n  distest demo: ${server.url}\n\nPress Ctrl-C to stop.`);
const exit = await server.exited;
if (!stopping) {
  await server.stop();
  fail(`code-server exited on its own (${exit}); its log: ${profile.logFile}`);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
