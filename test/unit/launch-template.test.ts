import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandTemplate, splitCommandLine } from '../../src/core/launch/template';

test('splits words like a shell: quotes, backslashes, adjacent pieces', () => {
  assert.deepEqual(splitCommandLine(`mpiexec  -n {ranks}\t{python} 'a b' "c d" e\\ f g'h'"i" '' "\\"q\\" \\$x"`), [
    'mpiexec', '-n', '{ranks}', '{python}', 'a b', 'c d', 'e f', 'ghi', '', '"q" $x',
  ]);
});

test('operators a shell would interpret are rejected with a clear error', () => {
  for (const t of ['a | b', 'a; b', 'a && b', 'a > out', 'a < in', 'echo $HOME', 'echo `id`', 'echo "$HOME"', 'a &']) {
    assert.throws(() => splitCommandLine(t), /shell operator .*distest never runs a shell/, t);
  }
});

test('quoted operators are plain text', () => {
  assert.deepEqual(splitCommandLine(`dragon '|;&<>$\`' {file}`), ['dragon', '|;&<>$`', '{file}']);
});

test('unterminated quotes and a trailing backslash are errors', () => {
  assert.throws(() => splitCommandLine(`a 'b`), /unterminated ' quote/);
  assert.throws(() => splitCommandLine(`a "b`), /unterminated " quote/);
  assert.throws(() => splitCommandLine(`a \\`), /lone backslash/);
});

const values = { file: 'tests/my dir/t;rm -rf ~.py', ranks: '3', python: '/usr/bin/python3', mpiexec: '/usr/bin/mpirun', tests: ['A.test_x', 'B.test_$y'] };

test('placeholders fill whole or partial words; file names with metacharacters stay one argument', () => {
  assert.deepEqual(expandTemplate(splitCommandLine('{mpiexec} -n {ranks} {python} {file} --out={file}.log {tests} -v'), values), [
    '/usr/bin/mpirun', '-n', '3', '/usr/bin/python3', 'tests/my dir/t;rm -rf ~.py', '--out=tests/my dir/t;rm -rf ~.py.log', 'A.test_x', 'B.test_$y', '-v',
  ]);
});

test('{tests} with no tests vanishes; {tests} inside a word and unknown placeholders are errors', () => {
  assert.deepEqual(expandTemplate(['dragon', '{file}', '{tests}'], { ...values, tests: [] }), ['dragon', 'tests/my dir/t;rm -rf ~.py']);
  assert.throws(() => expandTemplate(['x={tests}'], values), /must stand alone/);
  assert.throws(() => expandTemplate(['{nodes}'], values), /unknown placeholder \{nodes\}/);
  assert.throws(() => expandTemplate(['{mpiexec}'], { ...values, mpiexec: null }), /no mpirun or mpiexec was found/);
});
