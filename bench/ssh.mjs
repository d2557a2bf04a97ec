// SSH benchmark: 200 small remote commands over SshHost (one multiplexed ssh2 connection, connect time
// included) against 200 `ssh -F <cfg> host true` processes (OpenSSH, no ControlMaster), both against a
// loopback sshd this script starts and stops. Last stdout line:
// {"sshRatio", "launchOverhead": {"local", "hosts", "slurm"}} with sshRatio = opensshMs / sshHostMs and
// launchOverhead from bench/launch.mjs (run after this part, on the test cluster).
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const entryJs = path.join(root, '.bench/ssh-entry.js');
const COMMANDS = 200;

await esbuild.build({
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  entryPoints: [path.join(root, 'bench/ssh-entry.ts')], outfile: entryJs,
});
const { SshHost, startSshd, sshdAvailable } = createRequire(import.meta.url)(entryJs);
if (!sshdAvailable()) throw new Error('openssh-server is not installed (/usr/sbin/sshd): apt-get install -y openssh-server openssh-client');

let sshRatioResult;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-bench-ssh-'));
const sshd = await startSshd({ address: '127.0.0.2', logLevel: 'INFO', tmpRoot: tmp });
try {
  const config = path.join(tmp, 'ssh_config');
  const knownHosts = path.join(tmp, 'known_hosts');
  fs.writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  fs.writeFileSync(config, sshd.configBlock('bench', [`UserKnownHostsFile ${knownHosts}`, 'StrictHostKeyChecking yes', 'ControlMaster no', 'ControlPath none', 'BatchMode yes']));

  let started = performance.now();
  const host = new SshHost('bench', { configFile: config });
  for (let i = 0; i < COMMANDS; i++) {
    const r = await host.exec(['true']);
    if (r.code !== 0) throw new Error(`SshHost command ${i} failed: ${r.stderr}`);
  }
  const sshHostMs = performance.now() - started;
  host.dispose();

  started = performance.now();
  for (let i = 0; i < COMMANDS; i++) {
    const r = spawnSync('ssh', ['-F', config, 'bench', 'true'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh command ${i} failed: ${r.stderr}`);
  }
  const opensshMs = performance.now() - started;

  const sshRatio = opensshMs / sshHostMs;
  console.log(`SshHost: ${COMMANDS} commands in ${sshHostMs.toFixed(0)} ms (${(sshHostMs / COMMANDS).toFixed(1)} ms each, connect included)`);
  console.log(`OpenSSH: ${COMMANDS} ssh processes in ${opensshMs.toFixed(0)} ms (${(opensshMs / COMMANDS).toFixed(1)} ms each, no ControlMaster)`);
  console.log(`ratio:   ${sshRatio.toFixed(1)}x (goal >= 5x)`);
  sshRatioResult = Number(sshRatio.toFixed(2));
} finally {
  await sshd.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}

console.log('\nlaunch overhead per allocation kind (bench/launch.mjs):');
const launch = spawnSync(process.execPath, [path.join(root, 'bench/launch.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const launchLines = launch.stdout.trim().split('\n');
const launchResult = launch.status === 0 ? JSON.parse(launchLines.pop() ?? '{}') : null;
for (const line of launchLines) console.log(line);
if (!launchResult) throw new Error(`bench/launch.mjs failed (exit ${launch.status})`);
console.log(JSON.stringify({ sshRatio: sshRatioResult, launchOverhead: launchResult.launchOverhead }));
