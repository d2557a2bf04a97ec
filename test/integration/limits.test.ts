// Input limits and odd inputs through the built CLI with real python, pytest and mpirun: rank counts far
// beyond the machine are refused before anything starts; file names that are not UTF-8 are listed as
// pytest lists them and run.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { decodeFsName } from '../../src/core/fsNames';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without mpi4py

interface JsonTest { id: string; state: string; messages: { text: string }[] }

/** `args` go through sh, so `$(printf '\\377')` can put bytes in argv that Node itself cannot. */
function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', `exec node ${CLI} ${args.join(' ')}`], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })));
}

function project(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-limits-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('parallel(100000) and --ranks 1000000 are errored with the limit and the setting to change; nothing is launched', async () => {
  const root = project({
    // Never imported: both tests are refused before anything starts.
    'tests/test_big.py':
      'import pytest\nimport pytest_parallel\n\n@pytest_parallel.mark.parallel(100000)\ndef test_huge(comm):\n    pass\n\n' +
      '@pytest.mark.mpi(min_size=2)\ndef test_at_least_two():\n    pass\n',
    'tests/test_small.py': 'def test_serial():\n    pass\n',
  });
  const slots = os.availableParallelism();
  const limit = (n: number) =>
    new RegExp(`^needs ${n} ranks, more than 4× the ${slots} slots of the local machine \\(${slots * 4} ranks at most\\); raise distest\\.local\\.maxRanksPerSlot \\(0: no limit\\)`);
  const res = await runCli(['run', '--json', '--python', PYTHON, '--ranks', '1000000'], root);
  assert.equal(res.code, 1, res.stderr);
  const tests = new Map((JSON.parse(res.stdout) as { tests: JsonTest[] }).tests.map(t => [t.id, t]));
  assert.equal(tests.get('tests/test_small.py::test_serial')?.state, 'passed', res.stderr);
  for (const [id, n] of [['tests/test_big.py::test_huge[100000]', 100000], ['tests/test_big.py::test_at_least_two', 1000000]] as const) {
    assert.equal(tests.get(id)?.state, 'errored', id);
    assert.match(tests.get(id)?.messages[0]?.text ?? '', limit(n), id);
  }
  assert.doesNotMatch(res.stderr, /mpirun|oversubscribed/);

  const notANumber = await runCli(['run', '--ranks', '99999999999999999999'], root);
  assert.equal(notANumber.code, 2);
  assert.match(notANumber.stderr, /--ranks needs a whole number ≥ 1, got "99999999999999999999"/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('file names that are not valid UTF-8: listed with the ids pytest collects, run, selectable; a launcher template refuses them', async () => {
  const root = project({
    '.vscode/settings.json': JSON.stringify({ 'distest.launchers': [{ glob: 'launched/**', launcher: '{python} {file} {tests}', ranks: 1 }] }),
    'tests/test_ok.py': 'def test_ok():\n    pass\n',
    'tests/test_é.py': 'def test_accent():\n    pass\n',
  });
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map(p => Buffer.from(p as string)));
  const test = 'import pytest\n\ndef test_a():\n    pass\n\n@pytest.mark.parametrize("x", [1, 2])\ndef test_b(x):\n    assert x\n';
  fs.writeFileSync(bytes(root, '/tests/test_', [0xff], '.py'), test);
  fs.writeFileSync(bytes(root, '/tests/test_', [0xe2, 0x82], 'x.py'), test);
  fs.mkdirSync(bytes(root, '/tests/d', [0xfe]));
  fs.writeFileSync(bytes(root, '/tests/d', [0xfe], '/test_deep.py'), test);
  fs.mkdirSync(path.join(root, 'launched'));
  fs.writeFileSync(bytes(root, '/launched/test_', [0xff], '.py'), 'import unittest\n\nclass T(unittest.TestCase):\n    def test_u(self):\n        pass\n');

  // pytest is the oracle: its ids, as Python holds them (os.fsdecode of the bytes it prints).
  const collected = execFileSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', 'tests'], { cwd: root })
    .toString('latin1')
    .split('\n')
    .filter(line => line.includes('::'))
    .map(line => decodeFsName(Buffer.from(line, 'latin1')));
  assert.equal(collected.length, 11);
  const listed = await runCli(['list', '--json'], root);
  assert.equal(listed.code, 0, listed.stderr);
  const items = JSON.parse(listed.stdout) as { id: string; framework: string }[];
  assert.deepEqual(items.filter(i => i.framework !== 'unittest').map(i => i.id).sort(), collected.sort());
  assert.deepEqual(items.filter(i => i.framework === 'unittest').map(i => i.id), ['launched/test_\uDCFF.py::T::test_u']);

  const res = await runCli(['run', '--json', '--python', PYTHON], root);
  const results = new Map((JSON.parse(res.stdout) as { tests: JsonTest[] }).tests.map(t => [t.id, t]));
  for (const id of collected) assert.equal(results.get(id)?.state, 'passed', `${id}: ${JSON.stringify(results.get(id))}\n${res.stderr}`);
  const launched = results.get('launched/test_\uDCFF.py::T::test_u');
  assert.equal(launched?.state, 'errored');
  assert.match(launched.messages[0].text, /^the name of launched\/test_\\xff\.py is not valid UTF-8, .* rename the file to run it under a launcher$/);
  assert.equal(res.code, 1, res.stderr);

  // From a shell, the file's own bytes select it (Node reads them as U+FFFD, and so does the selection).
  const selected = await runCli(['run', '--json', '--python', PYTHON, `"tests/test_$(printf '\\377').py::test_b"`], root);
  assert.equal(selected.code, 0, selected.stderr);
  assert.deepEqual((JSON.parse(selected.stdout) as { tests: JsonTest[] }).tests.map(t => [t.id, t.state]), [
    ['tests/test_\uDCFF.py::test_b[1]', 'passed'],
    ['tests/test_\uDCFF.py::test_b[2]', 'passed'],
  ]);
  fs.rmSync(root, { recursive: true, force: true });
});
