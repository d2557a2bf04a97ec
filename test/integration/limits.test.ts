// Input limits through the built CLI with real python, pytest and mpirun: rank counts far beyond the
// machine are refused before anything starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without mpi4py

interface JsonTest { id: string; state: string; messages: { text: string }[] }

function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('node', [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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
