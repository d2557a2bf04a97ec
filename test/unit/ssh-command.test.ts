import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { killSessionArgv, PidLineSplitter, remoteCommand } from '../../src/core/transport/ssh/command';

const NASTY = ['a b', `it's "q"`, '$HOME', '`id`', 'x;y|z&(w)', 'new\nline', '*', '; touch /tmp/pwned', ''];

/** Runs a remote command line the way sshd does: its shell a session leader, stdin the channel (open until `closeStdin`). */
function runAsSshd(command: string) {
  const child = spawn('setsid', ['sh', '-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err).toString(), closeStdin: () => child.stdin.end() };
}

const sessionMembers = (sid: number): string[] => spawnSync('ps', ['-o', 'stat=', '-s', String(sid)]).stdout.toString().split('\n').filter(s => s && !s.startsWith('Z'));

async function until(what: string, probe: () => boolean, timeoutMs = 10000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !probe(); await new Promise(resolve => setTimeout(resolve, 50))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

test('the remote command line gives the program its exact argv, env and cwd', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `distest cmd '"$;|&() `));
  const command = remoteCommand(['sh', '-c', 'printf "%s\\0" "$PWD" "$WEIRD" "$@"', 'sh', ...NASTY], { cwd: dir, env: { WEIRD: `v'"$;|&()` } });
  const r = runAsSshd(command);
  const status = await r.exited;
  r.closeStdin();
  assert.deepEqual(status, { code: 0, signal: null }, r.stderr());
  assert.deepEqual(r.stdout().toString('utf8').split('\0').slice(0, -1), [fs.realpathSync(dir), `v'"$;|&()`, ...NASTY]);
  assert.match(r.stderr(), /^distest-pgid:\d+\n$/);
});

test('watchdog: a command whose channel closes under it ends with its whole session; one that ended by itself is left alone', { timeout: 20_000 }, async () => {
  // A launch like mpirun's: children in the session, one in a process group of its own.
  const running = runAsSshd(remoteCommand(['sh', '-c', 'sleep 300 & perl -e "setpgrp; exec q(sleep), 301" & echo ready; wait']));
  await until('the command to start', () => running.stdout().toString().includes('ready'));
  const sid = Number(/distest-pgid:(\d+)/.exec(running.stderr())?.[1]);
  try {
    // The watchdog is not among them: it has a session of its own.
    assert.equal(sessionMembers(sid).length, 3);
    running.closeStdin(); // what sshd does when distest is killed outright or the connection drops
    assert.deepEqual(await running.exited, { code: null, signal: 'SIGTERM' });
    await until('the session to be empty', () => sessionMembers(sid).length === 0);
  } finally {
    spawnSync('pkill', ['-KILL', '-s', String(sid)]);
  }

  const finished = runAsSshd(remoteCommand(['sh', '-c', 'sleep 302 >/dev/null 2>&1 & echo $!']));
  assert.deepEqual(await finished.exited, { code: 0, signal: null });
  finished.closeStdin();
  const leftover = Number(finished.stdout().toString().trim());
  await new Promise(resolve => setTimeout(resolve, 500));
  try {
    assert.doesNotThrow(() => process.kill(leftover, 0), 'what a finished command left is the end-of-run sweep\'s to report, not the watchdog\'s');
  } finally {
    process.kill(leftover, 'SIGKILL');
  }
});

test('bad env names and empty commands are refused', () => {
  assert.throws(() => remoteCommand(['true'], { env: { 'A;rm': 'x' } }), /not a valid environment variable name/);
  assert.throws(() => remoteCommand([]), /empty command/);
  assert.throws(() => killSessionArgv(1, 'TERM; rm', 100), /not a signal name/);
});

test('the pid line is taken out of stderr, whatever came before it and however it is split', () => {
  const splitter = new PidLineSplitter();
  const out: string[] = [];
  for (const chunk of ['rc says hi\ndistest-pg', 'id:4', '2\nreal', ' stderr']) {
    const own = splitter.push(Buffer.from(chunk));
    if (own) out.push(own.toString());
  }
  assert.equal(splitter.pid, 42);
  assert.equal(out.join(''), 'rc says hi\nreal stderr');
});

test('the kill script stops a whole session, including children in other process groups', async () => {
  const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-kill-')), 'pid');
  // setsid: like sshd, the session leader's pid names the session; perl's setpgrp mimics mpirun's ranks.
  const child = spawn('setsid', ['sh', '-c', 'echo $$ > "$1"; sleep 300 & perl -e "setpgrp; exec q(sleep), 301" & wait', 'sh', pidFile], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise(resolve => setTimeout(resolve, 50));
    await new Promise(resolve => setTimeout(resolve, 300));
    const sid = Number(fs.readFileSync(pidFile, 'utf8'));
    const members = (): string[] => spawnSync('ps', ['-o', 'stat=', '-s', String(sid)]).stdout.toString().split('\n').filter(s => s && !s.startsWith('Z'));
    assert.equal(members().length, 3);
    const [cmd, ...args] = killSessionArgv(sid, 'SIGTERM', 2000);
    execFileSync(cmd, args, { timeout: 10000 });
    assert.deepEqual(members(), []);
  } finally {
    child.kill('SIGKILL');
  }
});
