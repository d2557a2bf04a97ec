import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { decodeFsName, encodeFsName, FS_NAME_ARGUMENT_PREFIX, hasEscapedBytes, lossyFsName, printableFsName, pythonArgument } from '../../src/core/fsNames';

const NAMES = [
  'test_plain.py', 'tést_ü.py', 'test_😀.py',
  Buffer.from([0x74, 0xff, 0x2e, 0x70, 0x79]), // lone 0xff
  Buffer.from([0x61, 0xe2, 0x82, 0x61]), // a truncated 3-byte sequence
  Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80]), // overlong, an encoded surrogate, beyond U+10FFFF
  Buffer.from([0xf0, 0x9f, 0x98, 0x80, 0x80, 0xc3]), // a valid emoji, then a stray continuation and a lead byte at the end
  Buffer.from([0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80]), // the last code point before the surrogates, the first after
].map(n => (typeof n === 'string' ? Buffer.from(n) : n));

test('names decode as Python decodes file names (os.fsdecode) and encode back to the same bytes', () => {
  const python = JSON.parse(
    execFileSync('python3', ['-c', 'import json, os, sys; print(json.dumps([os.fsdecode(bytes.fromhex(h)) for h in sys.argv[1:]]))', ...NAMES.map(n => n.toString('hex'))], {
      encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' },
    }),
  ) as string[];
  NAMES.forEach((bytes, i) => {
    const name = decodeFsName(bytes);
    assert.equal(name, python[i], bytes.toString('hex'));
    assert.deepEqual(encodeFsName(name), bytes);
  });
});

test('escaped bytes are told apart from real characters, printed as \\xNN, and percent-encoded for a rank', () => {
  const name = decodeFsName(Buffer.from([0x74, 0x5f, 0xff, 0x25, 0x2e, 0x70, 0x79]));
  assert.equal(hasEscapedBytes(name), true);
  assert.equal(hasEscapedBytes('test_😀.py'), false); // a surrogate pair is a character
  assert.equal(printableFsName(`d/${name}::test_a`), 'd/t_\\xff%.py::test_a');
  assert.equal(lossyFsName(name), 't_\uFFFD%.py');
  assert.equal(pythonArgument(`${name}::test_é`), `${FS_NAME_ARGUMENT_PREFIX}t_%FF%25.py::test_%C3%A9`);
  assert.equal(pythonArgument('tests/test_é.py::t'), 'tests/test_é.py::t');
});
