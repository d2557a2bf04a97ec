// Launcher-template files batched into one launch (real mpirun, real python, the CLI): outcomes are the
// ones one launch per file gives ("batch": false), a crash in one file reruns the files after it, a
// hostile file name stays one argument; and pytest's xfail / xpass stay visible in JSON and JUnit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCliJson, type CliJsonRun } from './cliJson';

const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without mpi4py

interface JsonTest { id: string; state: string; failedRanks: number[]; pytestOutcome: string | null; messages: { text: string }[] }

function runCli(args: string[], env: Record<string, string> = {}): Promise<CliJsonRun<JsonTest>> {
  return runCliJson<JsonTest>(args, { env });
}

const HOSTILE = 'test_5 $(touch $DISTEST_PWN);x.py';

/** Each test appends `file rank pid` to $DISTEST_PIDS, so the launches a run made can be counted. */
function testFile(cls: string, body: string): string {
  return [
    'import os, unittest', 'from mpi4py import MPI', 'import shared_case', '',
    `class ${cls}(shared_case.Logged):`,
    body, '',
    'if __name__ == "__main__":', '    unittest.main()', '',
  ].join('\n');
}

function writeProject(dir: string, batch: boolean): void {
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tests', 'other'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({
    'distest.launchers': [{ glob: 'tests/**/test_*.py', launcher: '{mpiexec} -n {ranks} {python} {file} {tests}', ranks: 2, ...(batch ? {} : { batch: false }) }],
  }));
  const shared = [
    'import os, unittest', 'from mpi4py import MPI', '',
    'class Logged(unittest.TestCase):',
    '    def setUp(self):',
    '        with open(os.environ["DISTEST_PIDS"], "a") as log:',
    '            log.write("%s %d %d\\n" % (type(self).__module__, MPI.COMM_WORLD.Get_rank(), os.getpid()))', '',
  ].join('\n');
  for (const folder of ['tests', 'tests/other']) fs.writeFileSync(path.join(dir, folder, 'shared_case.py'), shared);
  const t = 'tests';
  fs.writeFileSync(path.join(dir, t, 'test_1.py'), testFile('TestOne', [
    '    def test_pass(self):', '        self.assertEqual(MPI.COMM_WORLD.allreduce(1), 2)',
    '    def test_fail_rank_1(self):', '        self.assertEqual(MPI.COMM_WORLD.Get_rank(), 0)',
    '    @unittest.skip("not today")', '    def test_skip(self):', '        pass',
    '    @unittest.expectedFailure', '    def test_expected(self):', '        self.assertTrue(False)',
  ].join('\n')));
  fs.writeFileSync(path.join(dir, t, 'other', 'test_1.py'), testFile('TestOther', '    def test_same_base_name(self):\n        pass'));
  fs.writeFileSync(path.join(dir, t, 'test_2_import.py'), 'import unittest\nimport no_such_module_here\n\nclass TestImport(unittest.TestCase):\n    def test_x(self):\n        pass\n');
  fs.writeFileSync(path.join(dir, t, 'test_3_crash.py'), testFile('TestCrash', [
    '    def test_a_dies_on_rank_1(self):', '        if MPI.COMM_WORLD.Get_rank() == 1:', '            os._exit(3)', '        MPI.COMM_WORLD.barrier()',
    '    def test_b_after(self):', '        pass',
  ].join('\n')));
  fs.writeFileSync(path.join(dir, t, 'test_4.py'), testFile('TestFour', '    def test_after_the_crash(self):\n        self.assertEqual(MPI.COMM_WORLD.allreduce(2), 4)'));
  fs.writeFileSync(path.join(dir, t, HOSTILE), testFile('TestHostile', '    def test_named_badly(self):\n        pass'));
}

test('files sharing a launcher template run in one launch with the outcomes of one launch per file; a crash reruns the files after it; hostile names stay one argument', { timeout: 300_000 }, async () => {
  const outcomes: Record<string, [string, string, number[]][]> = {};
  const launchesOf: Record<string, number> = {};
  for (const batch of [true, false]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `distest-batch-${batch}-`));
    const pids = path.join(dir, 'pids.log');
    const pwn = path.join(dir, 'pwned');
    try {
      writeProject(dir, batch);
      const res = await runCli(['run', dir, '--json', '--python', PYTHON], { DISTEST_PIDS: pids, DISTEST_PWN: pwn });
      assert.equal(fs.existsSync(pwn), false, 'a file name ran as a shell command');
      outcomes[String(batch)] = res.tests.map(t => [t.id, t.state, t.failedRanks]);
      // Rank 0's processes: one per launch that ran a test.
      launchesOf[String(batch)] = new Set(fs.readFileSync(pids, 'utf8').split('\n').filter(l => / 0 \d+$/.test(l)).map(l => l.split(' ').pop())).size;
      const byId = new Map(res.tests.map(t => [t.id, t]));
      assert.match(byId.get('tests/test_1.py::TestOne::test_fail_rank_1')?.messages[0].text ?? '', /rank 1 of 2: AssertionError: 1 != 0/);
      assert.match(byId.get('tests/test_2_import.py::TestImport::test_x')?.messages.map(m => m.text).join('\n') ?? '', /No module named 'no_such_module_here'/);
      assert.equal(res.code, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.deepEqual(outcomes.true, outcomes.false);
  assert.deepEqual([...outcomes.true].sort(), [
    ['tests/other/test_1.py::TestOther::test_same_base_name', 'passed', []],
    ['tests/test_1.py::TestOne::test_expected', 'skipped', []],
    ['tests/test_1.py::TestOne::test_fail_rank_1', 'failed', [1]],
    ['tests/test_1.py::TestOne::test_pass', 'passed', []],
    ['tests/test_1.py::TestOne::test_skip', 'skipped', []],
    ['tests/test_2_import.py::TestImport::test_x', 'errored', [0, 1]],
    ['tests/test_3_crash.py::TestCrash::test_a_dies_on_rank_1', 'errored', [0, 1]],
    ['tests/test_3_crash.py::TestCrash::test_b_after', 'passed', []],
    ['tests/test_4.py::TestFour::test_after_the_crash', 'passed', []],
    [`tests/${HOSTILE}::TestHostile::test_named_badly`, 'passed', []],
  ].sort());
  // Batched: the first launch (up to the crash) and one relaunch for the tests after it. Per file: one each, plus the crashed file's relaunch.
  assert.equal(launchesOf.true, 2);
  assert.equal(launchesOf.false, 6); // five files, and the crashed file's relaunch
});

test("pytest's xfail and xpass keep their meaning: skipped with the reason and pytestOutcome xfailed; strict xpass failed; JUnit as pytest writes it", { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-xfail-'));
  try {
    fs.writeFileSync(path.join(dir, 'test_x.py'), [
      'import pytest', '',
      '@pytest.mark.xfail(reason="known bug 12")', 'def test_xfail():', '    assert False', '',
      '@pytest.mark.xfail(reason="fixed?", strict=True)', 'def test_xpass_strict():', '    pass', '',
      '@pytest.mark.xfail(reason="maybe")', 'def test_xpass():', '    pass', '',
      '@pytest.mark.mpi(min_size=2)', '@pytest.mark.xfail(reason="on every rank")', 'def test_xfail_mpi():', '    assert False', '',
    ].join('\n'));
    const junit = path.join(dir, 'out.xml');
    const res = await runCli(['run', dir, '--json', '--junit', junit, '--python', PYTHON]);
    assert.deepEqual(res.tests.map(t => [t.id.split('::')[1], t.state, t.pytestOutcome, t.messages[0]?.text.split('\n')[0] ?? null]), [
      ['test_xfail', 'skipped', 'xfailed', 'xfail (expected failure): known bug 12'],
      ['test_xpass_strict', 'failed', 'xpassed', 'rank 0 of 1: [XPASS(strict)] fixed?'],
      ['test_xpass', 'passed', 'xpassed', null],
      ['test_xfail_mpi', 'skipped', 'xfailed', 'xfail (expected failure): on every rank'],
    ], res.stderr.slice(-2000));
    const xml = fs.readFileSync(junit, 'utf8');
    assert.match(xml, /name="test_xfail"[^>]*>\s*<skipped type="pytest.xfail" message="known bug 12"\/>/);
    assert.match(xml, /name="test_xpass_strict"[^>]*>\s*<failure message="[^"]*\[XPASS\(strict\)\] fixed\?/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
