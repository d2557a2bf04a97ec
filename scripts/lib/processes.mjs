// Processes that must not outlive us. code-server forks an extension host, file watchers and a
// language server; killing only its pid leaves those behind, so every long-lived child is started as
// the leader of its own process group and stopped by signalling the whole group.
import { spawn } from 'node:child_process';
import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const liveGroups = new Set();

/**
 * Spawns `cmd args` as a new process group. `stop()` sends SIGTERM to the group, then SIGKILL to
 * whatever is left after `graceMs`, and resolves once no process of the group remains.
 */
export function spawnGroup(cmd, args, options = {}) {
  const child = spawn(cmd, args, { ...options, detached: true });
  const pgid = child.pid;
  liveGroups.add(pgid);
  const stop = async (graceMs = 3000) => {
    if (!pgid || !liveGroups.has(pgid)) return;
    try { process.kill(-pgid, 'SIGTERM'); } catch { /* already gone */ }
    const deadline = Date.now() + graceMs;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
    if (groupAlive(pgid)) {
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      while (groupAlive(pgid)) await new Promise(r => setTimeout(r, 20));
    }
    liveGroups.delete(pgid);
  };
  return { child, pgid, stop };
}

/** Last resort on process exit (sync context: no waiting possible): SIGKILL every group still alive. */
function killRemainingGroups() {
  for (const pgid of liveGroups) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  }
  liveGroups.clear();
}
process.on('exit', killRemainingGroups);

/**
 * Runs `cleanup` once on SIGINT/SIGTERM/SIGHUP, then exits with 128+signal. Returns a function that
 * removes the handlers.
 */
export function onInterrupt(cleanup) {
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  let running = false;
  const handler = async signal => {
    if (running) return;
    running = true;
    console.error(`\n${signal}: stopping…`);
    try { await cleanup(); } finally { process.exit(128 + signals[signal]); }
  };
  for (const s of Object.keys(signals)) process.on(s, handler);
  return () => { for (const s of Object.keys(signals)) process.off(s, handler); };
}
