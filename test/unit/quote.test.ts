import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { shellQuote } from '../../src/core/transport/quote';

test('plain words pass through unquoted', () => {
  assert.equal(shellQuote(['mpirun', '-np', '2', '/usr/bin/python3', 'tests/test_x.py::test_y']), 'mpirun -np 2 /usr/bin/python3 tests/test_x.py::test_y');
});

test('metacharacters, spaces and quotes are single-quoted', () => {
  assert.equal(shellQuote(['a b', "it's", '$HOME', '`id`', 'x;y|z&', '']), `'a b' 'it'\\''s' '$HOME' '\`id\`' 'x;y|z&' ''`);
});

test('a real POSIX shell gets back exactly the argv', () => {
  const argv = ['a b', "it's", '$HOME', '`id`', 'x;y|z&<>', 'new\nline', '*', '~', 'back\\slash', '"dq"', '', 'tests/t.py::test[a-b]', 'é'];
  const script = `${shellQuote(['printf', '%s\\0', ...argv])}`;
  const out = execFileSync('/bin/sh', ['-c', script]).toString('utf8');
  assert.deepEqual(out.split('\0').slice(0, -1), argv);
});

test('NUL bytes cannot be passed and say so', () => {
  assert.throws(() => shellQuote(['a\0b']), /NUL byte/);
});
