// Launcher templates against hostile file names, run for real through the CLI (local allocation, real
// python and mpirun): whatever the template's shape, a file name reaches the program as one argument and
// nothing in it runs, or the template is refused with an error that says how to write it.
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

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', 'ulimit -Sc 0; exec node "$@"', 'sh', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })));
}

// Each would run `touch "$DISTEST_PWN"` if a shell parsed the name as code.
const HOSTILE_NAMES = [
  'test_$(touch $DISTEST_PWN).py',
  'test_`touch $DISTEST_PWN`.py',
  'test_a;touch $DISTEST_PWN;b.py',
  "test_';touch $DISTEST_PWN;'.py",
  'test_";touch $DISTEST_PWN;".py',
  'test_x\ntouch $DISTEST_PWN\n.py',
  'test_with spaces & ampersand.py',
];

const UNITTEST = 'import unittest\n\nclass T(unittest.TestCase):\n    def test_one(self):\n        pass\n\n    def test_two(self):\n        pass\n\nif __name__ == "__main__":\n    unittest.main()\n';

/** Template shapes that must run every hostile file; `ranks` is what the launch starts. */
const RUNNABLE: { dir: string; launcher: string; ranks: number }[] = [
  { dir: 'bare', launcher: '{python} {file} {tests}', ranks: 1 },
  { dir: 'sh-single', launcher: "sh -c 'ulimit -c 0 && {python} {file} {tests}'", ranks: 1 },
  { dir: 'sh-double', launcher: 'sh -c "test {ranks} -ge 1; {python} {file} {tests}"', ranks: 1 },
  { dir: 'sh-inner-double', launcher: `sh -c '"{python}" "{file}" {tests}'`, ranks: 1 },
  { dir: 'sh-inner-single', launcher: `sh -c "{python} '{file}' {tests}"`, ranks: 1 },
  { dir: 'bash-lc', launcher: "bash -lc '{python} {file} {tests}'", ranks: 1 },
  { dir: 'env-sh', launcher: "env DISTEST_SHAPE=env sh -c '{python} {file} {tests}'", ranks: 1 },
  { dir: 'dash-own-args', launcher: `dash -c 'exec "$@"' launch {python} {file} {tests}`, ranks: 1 },
  { dir: 'embedded', launcher: '{python} -X pycache_prefix=/tmp/distest-pycache/{file} {file} {tests}', ranks: 1 },
  { dir: 'mpirun-sh', launcher: "mpirun -np {ranks} sh -c 'ulimit -c 0; {python} {file} {tests}'", ranks: 2 },
  { dir: 'mpiexec-bash', launcher: `{mpiexec} -n {ranks} bash -c 'exec "{python}" "{file}" {tests}'`, ranks: 2 },
  // Every file of the directory in one launch, one argument each, through the project's own runner.
  { dir: 'sh-files', launcher: "sh -c 'ulimit -c 0 && exec {python} run_files.py {files}'", ranks: 1 },
];

/** The runner of the `{files}` shape: one unittest suite of every file it is given, whatever their names. */
const RUN_FILES = [
  'import importlib.util, sys, unittest', '',
  'suite = unittest.TestSuite()',
  'for i, path in enumerate(sys.argv[1:]):',
  '    spec = importlib.util.spec_from_file_location("batch_%d" % i, path)',
  '    module = importlib.util.module_from_spec(spec)',
  '    sys.modules[spec.name] = module',
  '    spec.loader.exec_module(module)',
  '    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(module))',
  'sys.exit(not unittest.TextTestRunner().run(suite).wasSuccessful())', '',
].join('\n');

/** Template shapes that cannot be made safe: every test of theirs ends errored with this explanation. */
const REFUSED: { dir: string; launcher: string; error: RegExp }[] = [
  { dir: 'python-c', launcher: `{python} -c 'import runpy; runpy.run_path("{file}", run_name="__main__")' {tests}`, error: /placeholder \{file\} inside the code of python -c .*sys\.argv/ },
  { dir: 'ssh', launcher: 'ssh localhost {python} {file} {tests}', error: /ssh joins its arguments into one command line for a shell, .* use a hosts allocation/ },
];

test('hostile file names in every launcher template shape: nothing they contain runs; each test passes or is refused with the reason', { timeout: 300_000 }, async () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-templates-'));
  const pwn = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-pwn-')), 'marker');
  fs.mkdirSync(path.join(project, '.vscode'));
  const shapes = [...RUNNABLE, ...REFUSED];
  fs.writeFileSync(
    path.join(project, '.vscode', 'settings.json'),
    JSON.stringify({
      'distest.launchers': shapes.map(s => ({ glob: `${s.dir}/**`, launcher: s.launcher, ranks: 'ranks' in s ? s.ranks : 1 })),
    }),
  );
  // MPI shapes start two ranks per file: a few names are enough there.
  const namesFor = (dir: string) => (dir.startsWith('mpi') ? HOSTILE_NAMES.slice(0, 3) : HOSTILE_NAMES);
  fs.writeFileSync(path.join(project, 'run_files.py'), RUN_FILES);
  for (const { dir } of shapes) {
    fs.mkdirSync(path.join(project, dir));
    for (const name of namesFor(dir)) fs.writeFileSync(path.join(project, dir, name), UNITTEST);
  }

  const res = await runCli(['run', project, '--json', '--python', PYTHON], { DISTEST_PWN: pwn });
  assert.equal(fs.existsSync(pwn), false, `a file name was run as a shell command\n${res.stderr}`);
  const tests = new Map((JSON.parse(res.stdout) as { tests: JsonTest[] }).tests.map(t => [t.id, t]));
  for (const { dir } of RUNNABLE) {
    for (const name of namesFor(dir)) {
      for (const method of ['test_one', 'test_two']) {
        const id = `${dir}/${name}::T::${method}`;
        assert.equal(tests.get(id)?.state, 'passed', `${id}: ${JSON.stringify(tests.get(id))}`);
      }
    }
  }
  for (const { dir, error } of REFUSED) {
    for (const name of namesFor(dir)) {
      const result = tests.get(`${dir}/${name}::T::test_one`);
      assert.equal(result?.state, 'errored', `${dir}/${name}: ${JSON.stringify(result)}`);
      assert.match(result.messages.map(m => m.text).join('\n'), error);
    }
  }
  assert.equal(tests.size, shapes.reduce((n, s) => n + namesFor(s.dir).length * 2, 0));
  assert.equal(res.code, 1, res.stderr);
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(path.dirname(pwn), { recursive: true, force: true });
});
