import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { expandTemplate, splitCommandLine, TemplateError } from '../../src/core/launch/template';

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

const HOSTILE = `t/$(touch pwned) \`id\`;a'b"c\n$HOME.py`;
const hostile = { ...values, file: HOSTILE, tests: ['T.test_a', 'T.test_$(id)'] };

test('a -c script never gets values pasted in: they follow as positional parameters after $0', () => {
  assert.deepEqual(expandTemplate(splitCommandLine(`sh -c 'ulimit -c 0 && exec {python} {file} {tests}'`), hostile), [
    'sh', '-c', 'ulimit -c 0 && exec "${1}" "${2}" "${3}" "${4}"', 'distest-launch', '/usr/bin/python3', HOSTILE, 'T.test_a', 'T.test_$(id)',
  ]);
  // The same placeholder twice is one parameter; the script's own name and arguments come first.
  assert.deepEqual(expandTemplate(['bash', '-c', 'echo {file} {file}', 'name', 'own'], hostile), ['bash', '-c', 'echo "${2}" "${2}"', 'name', 'own', HOSTILE]);
});

test('the reference suits the quoting around the placeholder inside the script', () => {
  assert.deepEqual(expandTemplate(['sh', '-c', `a "x{file}" 'y{file}' {ranks}"" {file}.log # it's {file}`], hostile).slice(2, 3), [
    `a "x\${1}" 'y'"\${1}"'' "\${2}""" "\${1}".log # it's {file}`,
  ]);
});

test('shells are found behind wrappers and options: env, mpirun, srun, bash -lc, sh -e -c, -o pipefail, --', () => {
  const script = (template: string) => expandTemplate(splitCommandLine(template), hostile);
  for (const template of [
    `env A=1 sh -c 'exec {python} {file}'`,
    `/usr/bin/mpirun -np {ranks} /bin/bash -c 'exec {python} {file}'`,
    `srun -n {ranks} dash -c 'exec {python} {file}'`,
    `bash -lc 'exec {python} {file}'`,
    `sh -e -c 'exec {python} {file}'`,
    `bash -o pipefail -c 'exec {python} {file}'`,
    `zsh -c -- 'exec {python} {file}'`,
  ]) {
    const argv = script(template);
    assert.deepEqual(argv.slice(-4), ['exec "${1}" "${2}"', 'distest-launch', '/usr/bin/python3', HOSTILE], template);
  }
  // A script file is not a -c script: its arguments are plain words.
  assert.deepEqual(script('bash run.sh {file} --log={file}.log'), ['bash', 'run.sh', HOSTILE, `--log=${HOSTILE}.log`]);
});

test('shapes that cannot be made safe are refused, saying how to write them', () => {
  const refused: [string, RegExp][] = [
    [`{python} -c 'import runpy; runpy.run_path("{file}")'`, /placeholder \{file\} inside the code of python -c .*sys\.argv\[1\]' \{file\}/],
    [`python3 -Bc 'print("{ranks}")'`, /inside the code of python3 -c/],
    [`perl -ne 'print "{file}"'`, /inside the code of perl -e/],
    [`node --eval=run('{file}')`, /inside the code of node --eval/],
    [`tcsh -c 'echo {file}'`, /inside the code of tcsh -c/],
    ['ssh node1 {python} {file}', /ssh joins its arguments into one command line for a shell, .*: for ranks on other hosts use a hosts allocation/],
    [`watch -n1 'ls {file}'`, /watch joins its arguments/],
    [`sh -c 'echo $(cat {file})'`, /\{file\} stands inside a command substitution/],
    [`sh -c 'echo "\`cat {file}\`"'`, /\{file\} stands inside a command substitution/],
    [`sh -c 'echo \${X:-{file}}'`, /\{file\} stands inside a command substitution or a \$\{\.\.\.\} expansion/],
    [`sh -c 'echo \${file}'`, /"\$\{file\}" in a -c script is shell syntax, not a placeholder/],
    [`sh -c 'exec "$@" {file}' x`, /also uses its own positional parameters.*exec "\$@"' launch/],
    [`sh -c 'eval {file}'`, /hands text to eval/],
    [`sh -c 'bash -c "run {file}"'`, /hands text to bash -c/],
    [`sh -c '{python} -c "import x; x.run({file})"'`, /hands text to python -c/],
    [`bash -c "echo \\$'{file}'"`, /\$'\.\.\.' quoting, which dash reads differently from bash/],
    [`sh -c 'cat <<EOF\n{file}\nEOF'`, /here-document/],
    [`sh -c 'echo "{tests}"'`, /\{tests\} expands to several arguments and must not stand inside quotes/],
    [`sh -c 'echo "{file}'`, /not balanced/],
    [`sh -c 'echo {nodes}'`, /unknown placeholder \{nodes\}/],
  ];
  for (const [template, message] of refused) {
    assert.throws(() => expandTemplate(splitCommandLine(template), hostile), (err: unknown) => err instanceof TemplateError && message.test(err.message), template);
  }
  // Code flags without placeholders in the code are fine; values as arguments after the code reach sys.argv.
  assert.deepEqual(expandTemplate(splitCommandLine(`{python} -c 'import sys; print(sys.argv[1])' {file}`), hostile), [
    '/usr/bin/python3', '-c', 'import sys; print(sys.argv[1])', HOSTILE,
  ]);
  assert.deepEqual(expandTemplate(splitCommandLine('{python} -m mod -c {file}'), hostile), ['/usr/bin/python3', '-m', 'mod', '-c', HOSTILE]);
});

test('real shells receive every value as exactly the bytes given, in every quoting', () => {
  const template = `-c 'printf "%s|" {file} "{file}" '"'"'{file}'"'"' x{file}y {tests}' `;
  for (const shell of ['sh', 'bash', 'dash']) {
    const argv = expandTemplate(splitCommandLine(`${shell} ${template}`), hostile);
    const out = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', cwd: fs.mkdtempSync(path.join(os.tmpdir(), 'distest-sh-')) });
    assert.equal(out, `${HOSTILE}|${HOSTILE}|${HOSTILE}|x${HOSTILE}y|T.test_a|T.test_$(id)|`, shell);
  }
});
