import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asciiEscapedBytes, asciiEscapedStr, decodeStringLiteral, imaginaryRepr, parseIntLiteral, pyDedent, pyFloatRepr } from '../../src/core/discovery/literals';

test('floats print like CPython repr', () => {
  const cases: [number, string][] = [
    [1.5, '1.5'], [2, '2.0'], [0.1, '0.1'], [1e16, '1e+16'], [1e15, '1000000000000000.0'], [1e-5, '1e-05'],
    [0.0001, '0.0001'], [1e22, '1e+22'], [1.2345678901234568e17, '1.2345678901234568e+17'], [-0, '-0.0'], [-2.5e-7, '-2.5e-07'],
    [1e100, '1e+100'], [Infinity, 'inf'], [5e-324, '5e-324'],
  ];
  for (const [value, repr] of cases) assert.equal(pyFloatRepr(value), repr, String(value));
});

test('integers and imaginary literals', () => {
  assert.equal(parseIntLiteral('0x_1F'), 31n);
  assert.equal(parseIntLiteral('0o17'), 15n);
  assert.equal(parseIntLiteral('0B101'), 5n);
  assert.equal(parseIntLiteral('1_000_000'), 1000000n);
  assert.equal(parseIntLiteral('123456789012345678901234567890'), 123456789012345678901234567890n);
  assert.equal(imaginaryRepr('2j'), '2j');
  assert.equal(imaginaryRepr('2.0J'), '2j');
  assert.equal(imaginaryRepr('1.5j'), '1.5j');
  assert.equal(imaginaryRepr('1e20j'), '1e+20j');
  assert.equal(imaginaryRepr('12'), undefined);
});

test('string literals decode like Python', () => {
  assert.deepEqual(decodeStringLiteral(String.raw`"a\tb\\c\x41\u00e9\101\
d"`), { kind: 'str', value: 'a\tb\\cAéAd' });
  assert.deepEqual(decodeStringLiteral(String.raw`r'\n'`), { kind: 'str', value: '\\n' });
  assert.deepEqual(decodeStringLiteral(String.raw`b'\xff\n'`), { kind: 'bytes', value: '\xff\n' });
  assert.deepEqual(decodeStringLiteral(`'''it's'''`), { kind: 'str', value: "it's" });
  assert.deepEqual(decodeStringLiteral(`f"{{x}}"`), { kind: 'str', value: '{x}' });
  assert.equal(decodeStringLiteral(`f"{x}"`), undefined);
  assert.equal(decodeStringLiteral(String.raw`"\N{BULLET}"`), undefined);
  assert.deepEqual(decodeStringLiteral(String.raw`"\q"`), { kind: 'str', value: '\\q' });
});

test('ids escape like pytest ascii_escaped', () => {
  assert.equal(asciiEscapedStr('é\n\\ \x7f\u2028😀'), '\\xe9\\n\\\\ \\x7f\\u2028\\U0001f600');
  // Bytes keep a lone backslash as it is (pytest decodes them with backslashreplace).
  assert.equal(asciiEscapedBytes("it's\\\x00\xff\t"), "it's\\\\x00\\xff\\t");
});

// Recorded from CPython 3.11's textwrap.dedent (the agreement fixture checks ids against pytest itself).
test('textwrap.dedent like CPython, and not at all where Python versions differ', () => {
  assert.equal(pyDedent('\n    a\n      b\n    c\n'), '\na\n  b\nc\n');
  assert.equal(pyDedent('  a\n\tb\n'), '  a\n\tb\n');
  assert.equal(pyDedent('\t a\n\t  b'), 'a\n b');
  assert.equal(pyDedent('    a\n      \n    b'), 'a\n\nb');
  assert.equal(pyDedent('no margin\n  x'), 'no margin\n  x');
  // Blank lines with \r or \f: emptied by Python 3.14, kept by earlier versions.
  assert.equal(pyDedent('  a\r\n  \r\n'), undefined);
  assert.equal(pyDedent('  a\n\f\n'), undefined);
});
