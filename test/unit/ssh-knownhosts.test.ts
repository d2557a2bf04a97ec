import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeTree } from './tmpTree';
import { appendKnownHost, checkHostKey, fingerprintSha256, keyTypeOf, knownHostName, knownKeyTypes, refusedHostKeyMessage } from '../../src/core/transport/ssh/knownHosts';

function keyBlob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const b = Buffer.from(body);
  const len = (n: number): Buffer => {
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(n);
    return buf;
  };
  return Buffer.concat([len(t.length), t, len(b.length), b]);
}

const keyA = keyBlob('ssh-ed25519', 'A'.repeat(32));
const keyB = keyBlob('ssh-ed25519', 'B'.repeat(32));
const rsa = keyBlob('ssh-rsa', 'R'.repeat(64));
const line = (names: string, key: Buffer, marker = ''): string => `${marker ? `${marker} ` : ''}${names} ${keyTypeOf(key)} ${key.toString('base64')}`;

const tmpFile = (text: string): string => path.join(makeTree({ known_hosts: text }, 'distest-kh-'), 'known_hosts');

test('names and fingerprints follow OpenSSH', () => {
  assert.equal(knownHostName('h', 22), 'h');
  assert.equal(knownHostName('h', 2222), '[h]:2222');
  assert.equal(keyTypeOf(keyA), 'ssh-ed25519');
  const expected = crypto.createHash('sha256').update(keyA).digest('base64').replace(/=+$/, '');
  assert.equal(fingerprintSha256(keyA), `SHA256:${expected}`);
});

test('plain, wildcard, negated and [host]:port entries', () => {
  const file = tmpFile([
    '# comment', '',
    line('alpha,10.0.0.1', keyA),
    line('[beta]:2222', keyA),
    line('*.cluster,!bad.cluster', keyB),
  ].join('\n'));
  assert.deepEqual(checkHostKey([file], 'alpha', 22, keyA), { status: 'known' });
  assert.deepEqual(checkHostKey([file], '10.0.0.1', 22, keyA), { status: 'known' });
  assert.deepEqual(checkHostKey([file], 'beta', 2222, keyA), { status: 'known' });
  assert.deepEqual(checkHostKey([file], 'beta', 22, keyA), { status: 'unknown' });
  assert.deepEqual(checkHostKey([file], 'n1.cluster', 22, keyB), { status: 'known' });
  assert.deepEqual(checkHostKey([file], 'bad.cluster', 22, keyB), { status: 'unknown' });
  assert.deepEqual(checkHostKey([file], 'alpha', 22, keyB), { status: 'changed', file, line: 3 });
  assert.deepEqual(knownKeyTypes([file], 'alpha', 22), ['ssh-ed25519']);

});

test('hashed entries, and appending hashed or plain lines', () => {
  const file = tmpFile('');
  appendKnownHost(file, 'gamma', 2200, keyA, true);
  appendKnownHost(file, 'delta', 22, keyB, false);
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /);
  assert.ok(!text.includes('gamma'), 'hashed entry must not name the host');
  assert.match(text, /\ndelta ssh-ed25519 /);
  assert.deepEqual(checkHostKey([file], 'gamma', 2200, keyA), { status: 'known' });
  assert.deepEqual(checkHostKey([file], 'gamma', 22, keyA), { status: 'unknown' });
  assert.deepEqual(checkHostKey([file], 'gamma', 2200, keyB), { status: 'changed', file, line: 1 });
  assert.deepEqual(checkHostKey([file], 'delta', 22, keyB), { status: 'known' });
});

test('@revoked wins over a plain entry; @cert-authority lines are not host keys', () => {
  const file = tmpFile([line('host1', keyA), line('host1', keyA, '@revoked'), line('host2', keyB, '@cert-authority')].join('\n'));
  assert.deepEqual(checkHostKey([file], 'host1', 22, keyA), { status: 'revoked', file, line: 2 });
  assert.deepEqual(checkHostKey([file], 'host2', 22, keyB), { status: 'unknown' });
});

test('a key of another type than those on record is not taken for a new host', () => {
  const ecdsa = keyBlob('ecdsa-sha2-nistp256', 'E'.repeat(40));
  const file = tmpFile([line('alpha', keyA), line('beta', keyB), line('alpha', ecdsa)].join('\n'));
  const verdict = checkHostKey([file], 'alpha', 22, rsa);
  assert.deepEqual(verdict, { status: 'otherType', file, line: 1, knownTypes: ['ssh-ed25519', 'ecdsa-sha2-nistp256'] });
  assert.equal(verdict.status, 'otherType');
  const message = refusedHostKeyMessage('alpha', 22, rsa, verdict);
  assert.match(message, /^WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for alpha!/);
  assert.ok(message.includes(`offered ssh-rsa ${fingerprintSha256(rsa)}, but known_hosts has only ssh-ed25519, ecdsa-sha2-nistp256 for it (${file}:1)`), message);
  assert.match(message, /Refusing to connect\.$/);
  // A host with no line at all is unknown, whatever types other hosts have.
  assert.deepEqual(checkHostKey([file], 'gamma', 22, rsa), { status: 'unknown' });
});

test('a missing file is empty; the changed-key message names the file and line', () => {
  assert.deepEqual(checkHostKey([path.join(os.tmpdir(), 'no-such-known-hosts')], 'x', 22, keyA), { status: 'unknown' });
  const message = refusedHostKeyMessage('h', 2222, keyB, { status: 'changed', file: '/k/known_hosts', line: 7 });
  assert.match(message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  assert.match(message, /\/k\/known_hosts:7/);
  assert.match(message, /\[h\]:2222/);
  assert.ok(message.includes(fingerprintSha256(keyB)));
});
