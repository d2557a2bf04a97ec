import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseProxyJump, resolveSshHost } from '../../src/core/transport/ssh/config';
import { makeTree } from './tmpTree';

const home = (files: Record<string, string>): string => makeTree(files, 'distest-sshcfg-');

test('Host patterns, HostName, User, Port, IdentityFile with ~, first value wins', () => {
  const h = home({
    '.ssh/config': [
      'Host node*', '  User alice', '  ProxyJump bob@login:2200,gw', '  ServerAliveInterval 15',
      'Host node1', '  HostName 10.0.0.11', '  Port 2022', '  User ignored', '  IdentityFile ~/.ssh/id_node', '  IdentitiesOnly yes',
      'Host *', '  UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2', '  HashKnownHosts yes', '',
    ].join('\n'),
  });
  const cfg = resolveSshHost('node1', { homeDir: h, env: { SSH_AUTH_SOCK: '/agent.sock' } });
  assert.equal(cfg.hostName, '10.0.0.11');
  assert.equal(cfg.port, 2022);
  assert.equal(cfg.user, 'alice');
  assert.deepEqual(cfg.identityFiles, [path.join(h, '.ssh/id_node')]);
  assert.equal(cfg.identitiesOnly, true);
  assert.equal(cfg.agentSocket, '/agent.sock');
  assert.deepEqual(cfg.proxyJump, [{ user: 'bob', host: 'login', port: 2200 }, { user: undefined, host: 'gw', port: undefined }]);
  assert.equal(cfg.serverAliveIntervalSec, 15);
  assert.deepEqual(cfg.userKnownHostsFiles, [path.join(h, '.ssh/kh1'), path.join(h, '.ssh/kh2')]);
  assert.equal(cfg.hashKnownHosts, true);
});

test('an unknown alias gets defaults; Include is followed; Match exec is never run', () => {
  const marker = path.join(os.tmpdir(), `distest-match-exec-${process.pid}`);
  const h = home({
    '.ssh/config': `Include extra/*.conf\nMatch exec "touch ${marker}"\n  User matched\n`,
    '.ssh/extra/a.conf': 'Host inc\n  HostName included.example\n  Port 2201\n',
  });
  const plain = resolveSshHost('plain.example', { homeDir: h, env: {} });
  assert.equal(plain.hostName, 'plain.example');
  assert.equal(plain.port, 22);
  assert.equal(plain.agentSocket, undefined);
  assert.deepEqual(plain.proxyJump, []);
  assert.deepEqual(plain.userKnownHostsFiles, [path.join(h, '.ssh/known_hosts')]);
  const inc = resolveSshHost('inc', { homeDir: h, env: {} });
  assert.equal(inc.hostName, 'included.example');
  assert.equal(inc.port, 2201);
  assert.ok(!fs.existsSync(marker));
});

test('a given config file, IdentityAgent none, ProxyJump none, bad port', () => {
  const h = home({ 'cfg': 'Host a\n  IdentityAgent none\n  ProxyJump none\nHost b\n  Port 99999\n' });
  const a = resolveSshHost('a', { configFile: path.join(h, 'cfg'), homeDir: h, env: { SSH_AUTH_SOCK: '/s' } });
  assert.equal(a.agentSocket, undefined);
  assert.deepEqual(a.proxyJump, []);
  assert.throws(() => resolveSshHost('b', { configFile: path.join(h, 'cfg'), homeDir: h }), /Port of b is not a port number: 99999/);
});

test('ProxyJump hops with users, ports and IPv6', () => {
  assert.deepEqual(parseProxyJump('u@[::1]:2222, h2'), [{ user: 'u', host: '::1', port: 2222 }, { user: undefined, host: 'h2', port: undefined }]);
  assert.throws(() => parseProxyJump('h:notaport'), /cannot read ProxyJump hop/);
});
