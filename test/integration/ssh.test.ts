// SshHost against real OpenSSH sshd instances on loopback (127.0.0.2 = jump host, 127.0.0.3 = target).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { localAllocation } from '../../src/core/allocation/allocation';
import { parseAllocationSpec } from '../../src/core/allocation/spec';
import { placeProject } from '../../src/core/run/placement';
import { runTests } from '../../src/core/run/run';
import { resolveAllocation, type AllocationContext } from '../../src/core/allocation/resolve';
import { DEFAULT_SETTINGS } from '../../src/core/settings';
import { HostPool } from '../../src/core/transport/pool';
import { shellQuote } from '../../src/core/transport/quote';
import type { SecretStore, UnknownHostInfo } from '../../src/core/transport/ssh/connect';
import { SshHost, type SshHostOptions } from '../../src/core/transport/ssh/sshHost';
import { syncFolder } from '../../src/core/transport/sync';
import { holdingProject, killCliMidRun } from './killedCli';
import { processesMentioning, processesWithEnv, waitUntilGone } from './procs';
import { generateKey, sshdAvailable, startSshd, type LoopbackSshd } from './sshd';
import { SETTING_DEFAULTS } from './runDefaults';

const missing = sshdAvailable() ? null : 'openssh-server is not installed (/usr/sbin/sshd)';
// Under CI=true a missing sshd fails the suite (in `before`) instead of skipping it.
const skip = missing !== null && process.env.CI !== 'true' && process.env.CI !== '1' ? missing : false;
// A fresh path per run: an argument run as a command would create it, and no earlier run can have.
const PWNED = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-pwned-')), 'pwned');
const NASTY = ['a b', `it's "q"`, '$HOME', '`id`', 'x;y|z&(w)', 'tab\there', '*', `; touch ${PWNED}`, `$(touch ${PWNED})`, ''];
const TIMEOUT = { timeout: 60000, skip };
const USER = os.userInfo().username;
const REPO = path.resolve(__dirname, '../../..');

let tmp: string;
let jump: LoopbackSshd;
let target: LoopbackSshd;
let configFile: string;
let knownHosts: string;
const hosts: SshHost[] = [];

function host(alias: string, opts: SshHostOptions = {}): SshHost {
  const h = new SshHost(alias, { configFile, knownHostsFile: knownHosts, reconnectDelaysMs: [0, 200, 500], ...opts });
  hosts.push(h);
  return h;
}

const accepted = (d: LoopbackSshd): number => (d.log().match(/Accepted publickey/g) ?? []).length;

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

before(async () => {
  if (skip) return;
  if (missing) throw new Error(`CI=true: ${missing}; failing instead of skipping`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-ssh-it-'));
  const clientKey = path.join(tmp, 'client_ed25519');
  generateKey(clientKey);
  jump = await startSshd({ address: '127.0.0.2', clientKeyFile: clientKey, tmpRoot: tmp, hostKeyTypes: ['ed25519', 'ecdsa'] });
  target = await startSshd({ address: '127.0.0.3', clientKeyFile: clientKey, tmpRoot: tmp });
  configFile = path.join(tmp, 'ssh_config');
  fs.writeFileSync(configFile, [jump.configBlock('jump'), target.configBlock('target'), target.configBlock('viajump', ['ProxyJump jump'])].join('\n'));
  knownHosts = path.join(tmp, 'known_hosts');
  fs.writeFileSync(knownHosts, `${jump.knownHostsLine}\n${target.knownHostsLine}\n`);
});

after(async () => {
  fs.rmSync(path.dirname(PWNED), { recursive: true, force: true });
  for (const h of hosts) h.dispose();
  await jump?.stop();
  await target?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('exec: argv with shell metacharacters round-trips byte-exact, nothing is injected', TIMEOUT, async () => {
  const h = host('target');
  const dir = path.join(tmp, `cwd '"$;|&() x`);
  fs.mkdirSync(dir);
  const r = await h.exec(['sh', '-c', 'printf "%s\\0" "$PWD" "$VALUE" "$@"', 'sh', ...NASTY], { cwd: dir, env: { VALUE: `v'"$;|&()` } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), [dir, `v'"$;|&()`, ...NASTY]);
  const echo = await h.exec(['echo', ...NASTY]);
  assert.equal(echo.stdout, `${NASTY.join(' ')}\n`);
  assert.equal(echo.stderr, '');
  assert.ok(!fs.existsSync(PWNED), 'an argument was run as a command');
  const failed = await h.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.deepEqual(failed, { code: 7, signal: null, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(await h.which('sh'), '/usr/bin/sh');
  assert.equal(await h.which('no-such-program-distest'), null);
  assert.ok((await h.cpuCount()) >= 1);
});

test('one connection carries every command, stream and file transfer', TIMEOUT, async () => {
  const h = host('target');
  const before = accepted(target);
  await Promise.all(Array.from({ length: 25 }, (_, i) => h.exec(['echo', String(i)])));
  const p = h.stream(['sh', '-c', 'echo one; echo two >&2; exit 3']);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  p.onStdout(b => out.push(b));
  p.onStderr(b => err.push(b));
  assert.deepEqual(await p.exited, { code: 3, signal: null });
  assert.equal(Buffer.concat(out).toString(), 'one\n');
  assert.equal(Buffer.concat(err).toString(), 'two\n');
  await h.writeFile(path.join(target.dir, 'reuse.txt'), 'x');
  assert.equal((await h.readFile(path.join(target.dir, 'reuse.txt'))).toString(), 'x');
  assert.equal(accepted(target) - before, 1, 'expected exactly one ssh login for all of the above');
});

test('a process killed by a signal reports it', TIMEOUT, async () => {
  const r = await host('target').exec(['sh', '-c', 'kill -USR1 $$']);
  assert.deepEqual({ code: r.code, signal: r.signal }, { code: null, signal: 'SIGUSR1' });
});

test('kill stops the remote process tree; a second exec finds nothing left', TIMEOUT, async () => {
  const h = host('target');
  const tag = `${process.pid}${Date.now() % 100000}`;
  const p = h.stream(['sh', '-c', `sleep 7${tag} & sleep 8${tag} & echo ready; wait`]);
  const seen: string[] = [];
  p.onStdout(b => seen.push(b.toString()));
  await until('the remote command to start', () => seen.join('').includes('ready'));
  const listing = async (): Promise<string[]> => (await h.exec(['ps', '-eo', 'args'])).stdout.split('\n').filter(l => l.includes(tag) && l.startsWith('sleep'));
  assert.equal((await listing()).length, 2);
  await p.kill();
  const status = await p.exited;
  assert.ok(status.signal !== null || status.code !== 0, JSON.stringify(status));
  assert.deepEqual(await listing(), []);
});

test('ProxyJump: the target is reached through the jump host\'s direct-tcpip channel', TIMEOUT, async () => {
  const logs: string[] = [];
  const h = host('viajump', { log: l => logs.push(l) });
  const r = await h.exec(['echo', 'through the jump']);
  assert.equal(r.stdout, 'through the jump\n');
  assert.match(jump.log(), new RegExp(`server_request_direct_tcpip: originator \\S+ port \\d+, target 127\\.0\\.0\\.3 port ${target.port}\\b`));
  assert.ok(logs.some(l => l.includes(`via ${USER}@127.0.0.2:${jump.port}`)), logs.join('\n'));
});

test('a changed host key is refused loudly, naming the file and line', TIMEOUT, async () => {
  const otherKey = path.join(tmp, 'other_host_key');
  generateKey(otherKey);
  const [type, key] = fs.readFileSync(`${otherKey}.pub`, 'utf8').split(/\s+/);
  const file = path.join(tmp, 'known_hosts_changed');
  fs.writeFileSync(file, `# first line\n[127.0.0.3]:${target.port} ${type} ${key}\n`);
  let asked = 0;
  const h = host('target', { knownHostsFile: file, confirmUnknownHost: async () => ++asked > 0 });
  await assert.rejects(h.connect(), (err: Error) => {
    assert.match(err.message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.ok(err.message.includes(`${file}:2`), err.message);
    return true;
  });
  const viaExec = await h.exec(['true']);
  assert.equal(viaExec.code, null);
  assert.match(viaExec.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  assert.equal(asked, 0);
});

test('a host key of another type than the ones on record is refused as a change, never asked about', TIMEOUT, async () => {
  const otherKey = path.join(tmp, 'other_ecdsa_key');
  generateKey(otherKey, '', 'ecdsa');
  const [type, key] = fs.readFileSync(`${otherKey}.pub`, 'utf8').split(/\s+/);
  const file = path.join(tmp, 'known_hosts_other_type');
  // target has only an ed25519 host key; known_hosts knows an ecdsa one for it.
  fs.writeFileSync(file, `# first line\n[127.0.0.3]:${target.port} ${type} ${key}\n`);
  let asked = 0;
  const h = host('target', { knownHostsFile: file, confirmUnknownHost: async () => ++asked > 0 });
  await assert.rejects(h.connect(), (err: Error) => {
    assert.match(err.message, /^WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for \[127\.0\.0\.3\]:\d+!/);
    assert.ok(err.message.includes(`offered ssh-ed25519 ${fingerprintOf(`${target.dir}/host_ed25519.pub`)}, but known_hosts has only ecdsa-sha2-nistp256 for it (${file}:2)`), err.message);
    return true;
  });
  assert.equal(asked, 0);
  // A server that has the type on record among others is asked for it first and gets through.
  const jumpFile = path.join(tmp, 'known_hosts_ecdsa_only');
  fs.writeFileSync(jumpFile, `${jump.knownHostsLineOf('ecdsa')}\n`);
  const viaEcdsa = host('jump', { knownHostsFile: jumpFile, confirmUnknownHost: async () => ++asked > 0 });
  assert.equal((await viaEcdsa.exec(['echo', 'ok'])).stdout, 'ok\n');
  assert.equal(asked, 0);
});

test('an unknown host key is asked about: deny refuses, approve stores (hashed) and is not asked again', TIMEOUT, async () => {
  const file = path.join(tmp, 'known_hosts_unknown');
  const hashedConfig = path.join(tmp, 'ssh_config_hashed');
  fs.writeFileSync(hashedConfig, target.configBlock('target', ['HashKnownHosts yes']));
  const questions: UnknownHostInfo[] = [];
  const denied = host('target', { configFile: hashedConfig, knownHostsFile: file, confirmUnknownHost: async info => (questions.push(info), false) });
  await assert.rejects(denied.connect(), /is not trusted: refused by the user/);
  assert.equal(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '', '');
  const expectedFingerprint = fingerprintOf(`${target.dir}/host_ed25519.pub`);
  assert.deepEqual(questions, [{ host: '127.0.0.3', port: target.port, keyType: 'ssh-ed25519', fingerprintSha256: expectedFingerprint }]);
  const approved = host('target', { configFile: hashedConfig, knownHostsFile: file, confirmUnknownHost: async info => (questions.push(info), true) });
  assert.equal((await approved.exec(['echo', 'ok'])).stdout, 'ok\n');
  assert.match(fs.readFileSync(file, 'utf8'), /^\|1\|\S+ ssh-ed25519 \S+\n$/);
  const again = host('target', { configFile: hashedConfig, knownHostsFile: file, confirmUnknownHost: async info => (questions.push(info), false) });
  assert.equal((await again.exec(['echo', 'ok'])).stdout, 'ok\n');
  assert.equal(questions.length, 2);
  const noCallback = host('target', { configFile: hashedConfig, knownHostsFile: path.join(tmp, 'known_hosts_none') });
  await assert.rejects(noCallback.connect(), /is not in .*known_hosts_none/);
});

test('a host key the user refuses ends the allocation with that reason; one question however many lookups and connects', TIMEOUT, async () => {
  const file = path.join(tmp, 'known_hosts_refused');
  const questions: UnknownHostInfo[] = [];
  const pool = new HostPool({
    configFile, knownHostsFile: file, reconnectDelaysMs: [0, 200, 500],
    // A user who takes a moment to answer: every connect meanwhile waits for the same answer.
    confirmUnknownHost: info => new Promise(resolve => setTimeout(() => {
      questions.push(info);
      resolve(false);
    }, 300)),
  });
  const refusal = `the host key of [127.0.0.3]:${target.port} (ssh-ed25519 ${fingerprintOf(`${target.dir}/host_ed25519.pub`)}) is not trusted: refused by the user`;
  const isRefusal = (err: Error): boolean => (assert.ok(err.message.includes(refusal), err.message), true);
  try {
    const ctx: AllocationContext = { settings: DEFAULT_SETTINGS, python: '/usr/bin/python3', open: pool.open };
    const outcomes = await Promise.allSettled(['target/hosts:localhost:2', 'target/slurm:1', 'hosts:target'].map(spec => resolveAllocation(parseAllocationSpec(spec), ctx)));
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected', 'a refused launching host is no allocation');
      isRefusal(outcome.reason as Error);
    }
    assert.equal(questions.length, 1);
    // Later uses fail at once with the same reason, without asking again.
    const r = await pool.open('target').exec(['true']);
    assert.ok(r.code === null && r.stderr.includes(refusal), r.stderr);
    assert.equal(questions.length, 1);
    // The editor's next run asks anew (once).
    pool.forgetRefusals();
    await assert.rejects(resolveAllocation(parseAllocationSpec('target/hosts:localhost:2'), ctx), isRefusal);
    assert.equal(questions.length, 2);
    assert.ok(!fs.existsSync(file), 'nothing was added to known_hosts');
  } finally {
    pool.dispose();
  }
});

/** A home for the CLI whose ~/.ssh/config reaches `target` (and whose known_hosts trusts it, if asked). */
function cliHome(trusted: boolean): string {
  const home = fs.mkdtempSync(path.join(tmp, 'home-'));
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh/config'), target.configBlock('target'));
  if (trusted) fs.writeFileSync(path.join(home, '.ssh/known_hosts'), `${target.knownHostsLine}\n`);
  return home;
}

test('CLI: a host key refused at the terminal prompt errors every test with the reason, asked once, exit 1', TIMEOUT, async () => {
  const home = cliHome(false);
  const json = path.join(home, 'out.json');
  const cli = [process.execPath, path.join(REPO, 'dist/cli.js'), 'run', path.join(REPO, 'test/fixtures/mpi-project'), 'tests/test_mpi_marks.py',
    '--json', '--python', '/usr/bin/python3', '--allocation', 'target/hosts:localhost:2'];
  // script(1) gives the CLI a terminal, as a user at a shell has; stdout goes to a file.
  const child = spawn('script', ['-qec', `${shellQuote(cli)} > ${shellQuote([json])}`, '/dev/null'], { env: { ...process.env, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let prompts = 0;
  child.stdout.on('data', (b: Buffer) => {
    screen += b.toString();
    const asked = (screen.match(/\(yes\/no\)\? /g) ?? []).length;
    for (; prompts < asked; prompts++) child.stdin.write('no\n');
  });
  const code = await new Promise<number | null>(resolve => child.once('close', resolve));
  assert.equal(prompts, 1, screen);
  assert.match(screen, new RegExp(`The authenticity of host '127\\.0\\.0\\.3' \\(port ${target.port}\\) can't be established`));
  assert.equal(code, 1, screen);
  const tests = (JSON.parse(fs.readFileSync(json, 'utf8')) as { tests: { state: string; messages: { text: string }[] }[] }).tests;
  assert.ok(tests.length >= 4, JSON.stringify(tests));
  for (const t of tests) {
    assert.equal(t.state, 'errored');
    assert.ok(t.messages[0].text.startsWith('allocation target/hosts:localhost:2: the host key of [127.0.0.3]:'), t.messages[0].text);
    assert.match(t.messages[0].text, /is not trusted: refused by the user$/);
  }
  assert.ok(!fs.existsSync(path.join(home, '.ssh/known_hosts')));
});

test('a CLI killed outright mid-run on a remote launching host: its watchdog there ends the launch, nothing of the run is left', { timeout: 120_000, skip }, async () => {
  const project = holdingProject(tmp);
  // mpirun runs on `target` (this machine, through sshd) and starts both ranks there.
  const killed = await killCliMidRun(project, ['--python', '/usr/bin/python3', '--allocation', 'target/hosts:localhost:2'], {
    ranks: 2, env: { ...process.env, HOME: cliHome(true) },
  });
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', killed.runId), killed.killedAt + 10_000 - Date.now()), [], killed.stderr);
  assert.deepEqual(processesMentioning(path.basename(project.testFile)), []);
});

function fingerprintOf(pubFile: string): string {
  const blob = Buffer.from(fs.readFileSync(pubFile, 'utf8').split(/\s+/)[1], 'base64');
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

test('a dropped connection ends the running stream with a clear error; the next exec reconnects', TIMEOUT, async () => {
  const logs: string[] = [];
  const h = host('target', { log: l => logs.push(l) });
  const p = h.stream(['sh', '-c', 'echo started; sleep 30']);
  const seen: string[] = [];
  p.onStdout(b => seen.push(b.toString()));
  await until('the remote command to start', () => seen.join('').includes('started'));
  const before = accepted(target);
  assert.ok(target.dropConnections() > 0);
  const status = await Promise.race([p.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stream did not end')), 10000))]);
  assert.equal(status.code, null);
  assert.match(status.error ?? '', /connection to target was lost/);
  assert.equal((await h.exec(['echo', 'back'])).stdout, 'back\n');
  assert.equal(accepted(target) - before, 1);
});

test('an encrypted key: passphrase asked once, kept only in the SecretStore, never logged', TIMEOUT, async () => {
  const passphrase = `pa ss'"$;|&()-${Date.now()}`;
  const key = path.join(tmp, 'encrypted_ed25519');
  generateKey(key, passphrase);
  fs.appendFileSync(path.join(target.dir, 'authorized_keys'), fs.readFileSync(`${key}.pub`));
  const cfg = path.join(tmp, 'ssh_config_encrypted');
  fs.writeFileSync(cfg, [`Host locked`, `  HostName 127.0.0.3`, `  Port ${target.port}`, `  User ${USER}`, `  IdentityFile ${key}`, '  IdentitiesOnly yes', ''].join('\n'));
  const stored = new Map<string, string>();
  const store: SecretStore = {
    get: async k => stored.get(k),
    set: async (k, v) => void stored.set(k, v),
    delete: async k => void stored.delete(k),
  };
  const logs: string[] = [];
  let asked = 0;
  const opts: SshHostOptions = {
    configFile: cfg, secrets: store, log: l => logs.push(l),
    askSecret: async req => (asked++, req.kind === 'passphrase' && req.keyFile === key ? { value: passphrase, remember: true } : undefined),
  };
  assert.equal((await host('locked', opts).exec(['echo', 'in'])).stdout, 'in\n');
  assert.equal((await host('locked', opts).exec(['echo', 'again'])).stdout, 'again\n');
  assert.equal(asked, 1);
  assert.deepEqual([...stored.keys()], [`passphrase:${key}`]);
  assert.ok(logs.length > 0);
  assert.ok(!logs.join('\n').includes(passphrase), 'the passphrase leaked into the log');
  const noPrompt = host('locked', { configFile: cfg });
  await assert.rejects(noPrompt.connect(), /encrypted.*ssh-agent/);
});

test('readFile / writeFile with awkward names; a missing file is a clear error', TIMEOUT, async () => {
  const h = host('target');
  const file = path.join(target.dir, `file '"$;|&() x.bin`);
  const data = Buffer.from([0, 1, 2, 255, 10, 13]);
  await h.writeFile(file, data);
  assert.deepEqual(fs.readFileSync(file), data);
  assert.deepEqual(await h.readFile(file), data);
  await assert.rejects(h.readFile(path.join(target.dir, 'missing')), /cannot read .*missing: no such file/);
});

test('forwardPort makes a remote port reachable on a local port', TIMEOUT, async () => {
  const server = net.createServer(s => s.pipe(s));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const remotePort = (server.address() as net.AddressInfo).port;
  const forward = await host('target').forwardPort(remotePort);
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(forward.localPort, '127.0.0.1', () => socket.write('ping'));
      socket.once('data', b => (resolve(b.toString()), socket.end()));
      socket.once('error', reject);
    });
    assert.equal(reply, 'ping');
  } finally {
    await forward.close();
    server.close();
  }
});

test('syncFolder copies changed files only, honouring .gitignore and skipping .git', TIMEOUT, async () => {
  const local = path.join(tmp, 'workspace');
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
    fs.writeFileSync(path.join(local, rel), text);
  };
  write('.gitignore', '*.pyc\nbuild/\n');
  write('.git/HEAD', 'ref');
  write('tests/test_a.py', 'def test_a(): pass\n');
  write(`tests/it's "odd" $x.py`, '# odd\n');
  write('tests/cache.pyc', 'x');
  write('build/out.txt', 'x');
  write('data/big.txt', 'x'.repeat(100000));
  const remoteRoot = path.join(target.dir, 'remote root $x');
  const h = host('target');
  const first = await syncFolder(h, local, remoteRoot);
  assert.deepEqual(first.copied.sort(), ['.gitignore', 'data/big.txt', `tests/it's "odd" $x.py`, 'tests/test_a.py']);
  assert.equal(fs.readFileSync(path.join(remoteRoot, 'data/big.txt'), 'utf8').length, 100000);
  assert.ok(!fs.existsSync(path.join(remoteRoot, '.git')));
  assert.ok(!fs.existsSync(path.join(remoteRoot, 'build')));
  const second = await syncFolder(h, local, remoteRoot);
  assert.deepEqual(second, { copied: [], unchanged: 4 });
  write('tests/test_a.py', 'def test_a(): assert True\n');
  const third = await syncFolder(h, local, remoteRoot, { ignore: ['data/'] });
  assert.deepEqual(third, { copied: ['tests/test_a.py'], unchanged: 2 });
  assert.equal(fs.readFileSync(path.join(remoteRoot, 'tests/test_a.py'), 'utf8'), 'def test_a(): assert True\n');
});

test('more streams than MaxSessions queue instead of failing, and all of them can be killed', TIMEOUT, async () => {
  const h = host('target');
  const tag = `9${process.pid}${Date.now() % 10000}`;
  const procs = Array.from({ length: 12 }, () => h.stream(['sleep', tag]));
  const listing = async (): Promise<number> => (await h.execControl(['ps', '-eo', 'args'])).stdout.split('\n').filter(l => l === `sleep ${tag}`).length;
  await until('eight streams to run', async () => (await listing()) === 8 || undefined);
  await Promise.all(procs.map(p => p.kill()));
  await Promise.all(procs.map(p => p.exited));
  assert.equal(await listing(), 0);
});

test('ssh-agent: keys offered by the agent (SSH_AUTH_SOCK) log in', TIMEOUT, async () => {
  const agentDir = fs.mkdtempSync(path.join(tmp, 'agent-'));
  const socket = path.join(agentDir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  try {
    await until('the agent socket', () => fs.existsSync(socket));
    const add = spawnSync('ssh-add', [target.clientKeyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8' });
    assert.equal(add.status, 0, add.stderr);
    const cfg = path.join(agentDir, 'ssh_config');
    fs.writeFileSync(cfg, ['Host agented', '  HostName 127.0.0.3', `  Port ${target.port}`, `  User ${USER}`, ''].join('\n'));
    // An empty home: no ~/.ssh/id_* to fall back on, so only the agent can log in.
    const h = host('agented', { configFile: cfg, homeDir: agentDir, env: { SSH_AUTH_SOCK: socket } });
    assert.equal((await h.exec(['echo', 'agent'])).stdout, 'agent\n');
  } finally {
    agent.kill('SIGTERM');
  }
});

test('an unreachable host fails with a clear error after bounded retries', TIMEOUT, async () => {
  const closed = await new Promise<number>(resolve => {
    const server = net.createServer().listen(0, '127.0.0.3', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
  const cfg = path.join(tmp, 'ssh_config_closed');
  fs.writeFileSync(cfg, ['Host closed', '  HostName 127.0.0.3', `  Port ${closed}`, ''].join('\n'));
  const logs: string[] = [];
  const h = host('closed', { configFile: cfg, log: l => logs.push(l) });
  await assert.rejects(h.connect(), /ECONNREFUSED/);
  assert.equal(logs.filter(l => l.includes('connect failed')).length, 3);
  const r = await h.exec(['true']);
  assert.equal(r.code, null);
  assert.match(r.stderr, new RegExp(`ssh ${USER}@127\\.0\\.0\\.3:\\d+: .*ECONNREFUSED`));
});

test('a remote root: agent and changed files go there over SFTP, the ranks run there, results map back', { timeout: 120000, skip }, async () => {
  const local = path.join(tmp, 'project');
  fs.cpSync(path.resolve(__dirname, '../../../test/fixtures/mpi-project'), local, { recursive: true, filter: src => !/__pycache__|\.pytest_cache/.test(src) });
  const remoteRoot = path.join(target.dir, `remote project 'q' $x`);
  const h = host('target');
  const alloc = await localAllocation(h, { python: '/usr/bin/python3', slots: 2 });
  const placement = await placeProject(alloc, local, { remoteRoots: { target: remoteRoot }, syncBeforeRun: true });
  assert.equal(placement.root, remoteRoot);
  assert.match(placement.note ?? '', /synced \d+ changed files/);
  assert.ok(fs.existsSync(path.join(remoteRoot, '.distest/agent/distest_pytest.py')));
  assert.ok(fs.existsSync(path.join(remoteRoot, 'tests/test_parallel.py')));
  const spec = (id: string, ranks: number, framework: 'pytest_parallel' | 'pytest-mpi') => ({
    id, label: id, file: id.split('::')[0], range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework, ranks,
  });
  const results = await runTests([spec('tests/test_parallel.py::test_fails_on_rank_1[3]', 3, 'pytest_parallel'), spec('tests/test_mpi_marks.py::test_gather', 2, 'pytest-mpi')], { ...SETTING_DEFAULTS,
    root: placement.root, assetDir: placement.assetDir, alloc, timeoutMs: 90_000,
  });
  assert.equal(results[0].state, 'failed', JSON.stringify(results[0].messages));
  assert.deepEqual(results[0].failedRanks, [1]);
  // Relative to the root: the editor and the CLI resolve it against the local folder.
  assert.equal(results[0].messages[0].file, 'tests/test_parallel.py');
  assert.equal(results[1].state, 'passed', JSON.stringify(results[1].messages));
  const again = await placeProject(alloc, local, { remoteRoots: { target: remoteRoot }, syncBeforeRun: true });
  assert.match(again.note ?? '', /synced 0 changed files/);
});
