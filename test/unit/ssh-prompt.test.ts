import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { terminalPrompts } from '../../src/core/transport/ssh/prompt';

function io(): { input: PassThrough; output: PassThrough; written: () => string } {
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', b => chunks.push(b));
  return { input, output, written: () => Buffer.concat(chunks).toString() };
}

test('no terminal: no prompts, so the connection fails clearly instead of hanging', () => {
  assert.equal(terminalPrompts(new PassThrough()), undefined);
});

test('piped answers: a secret (not echoed, never remembered), then a host key question', async () => {
  const { input, output, written } = io();
  const prompts = terminalPrompts(input, output, false);
  assert.ok(prompts);
  input.write('s3cr3t $;|\nyes\n');
  assert.deepEqual(await prompts.askSecret({ kind: 'passphrase', host: 'n1', keyFile: '/k/id' }), { value: 's3cr3t $;|', remember: false });
  assert.equal(await prompts.confirmUnknownHost({ host: 'n1', port: 2222, keyType: 'ssh-ed25519', fingerprintSha256: 'SHA256:abc' }), true);
  assert.match(written(), /Passphrase for \/k\/id \(n1\): /);
  assert.match(written(), /SHA256:abc[\s\S]*\(yes\/no\)\? $/);
  assert.ok(!written().includes('s3cr3t'));
});

test('anything but yes refuses the host; end of input cancels a secret', async () => {
  const { input, output } = io();
  const prompts = terminalPrompts(input, output, false);
  assert.ok(prompts);
  input.write('y\n');
  assert.equal(await prompts.confirmUnknownHost({ host: 'h', port: 22, keyType: 'ssh-rsa', fingerprintSha256: 'SHA256:x' }), false);
  input.end();
  assert.equal(await prompts.askSecret({ kind: 'password', host: 'h' }), undefined);
});
