import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { killSessionArgv, PidLineSplitter, remoteCommand } from '../../src/core/transport/sshCommand';

const NASTY = ['a b', `it's "q"`, '$HOME', '`id`', 'x;y|z&(w)', 'new\nline', '*', '; touch /tmp/pwned', ''];

test('the remote command line gives the program its exact argv, env and cwd', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `distest cmd '"$;|&() `));
  const command = remoteCommand(['sh', '-c', 'printf "%s\\0" "$PWD" "$WEIRD" "$@"', 'sh', ...NASTY], { cwd: dir, env: { WEIRD: `v'"$;|&()` } });
  const r = spawnSync('/bin/sh', ['-c', command]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), [fs.realpathSync(dir), `v'"$;|&()`, ...NASTY]);
  assert.match(r.stderr.toString(), /^distest-pgid:\d+\n$/);
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
