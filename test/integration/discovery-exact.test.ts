// `distest list --exact` and `distest list --verify` (dist/cli.js) against the real pytest: dynamic items
// settled by pytest's collection, collection errors reported on their file, every difference printed and
// exit 1 when there is one.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { collectProject } from '../../src/core/discovery/exact';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without pytest-mpi
let scratch: string;

before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-exact-'));
});

after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A copy of the agreement fixture with dynamic items, plus `extra` files. */
function project(name: string, extra: Record<string, string> = {}): string {
  const root = path.join(scratch, name);
  fs.cpSync(path.join(REPO, 'test/fixtures/agreement/dynamic'), root, { recursive: true });
  for (const [file, text] of Object.entries(extra)) fs.writeFileSync(path.join(root, file), text);
  return root;
}

function cli(root: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, 'list', root, '--python', PYTHON, ...args], { encoding: 'utf8', env: { ...process.env, PYTEST_ADDOPTS: '', ...env } });
}

function pytestIds(root: string): string[] {
  return execFileSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'], { cwd: root, encoding: 'utf8', env: { ...process.env, PYTEST_ADDOPTS: '' } })
    .split('\n').filter(l => l.includes('::'));
}

test('list --exact: dynamic items become pytest\'s own ids and rank counts; nothing is written into the project', () => {
  const root = project('exact');
  const before = fs.readdirSync(path.join(root, 'tests')).sort();
  const res = cli(root, ['--exact', '--json']);
  assert.equal(res.status, 0, res.stderr);
  const items = JSON.parse(res.stdout) as { id: string; ranks: number | null; dynamic: string | null }[];
  assert.deepEqual(items.map(i => i.id).sort(), pytestIds(root).sort());
  assert.deepEqual(items.filter(i => i.dynamic), []);
  assert.equal(items.find(i => i.id === 'tests/test_computed.py::test_rank_count_from_variable')?.ranks, 3);
  assert.match(res.stderr, /pytest collected 15 items in 1 file/);
  // Neither .pytest_cache nor __pycache__ left behind by the background look.
  assert.deepEqual(fs.readdirSync(path.join(root, 'tests')).sort(), before);
  assert.ok(!fs.existsSync(path.join(root, '.pytest_cache')));
});

test('list --exact: a file pytest cannot collect keeps its static items and says why at its line', () => {
  const root = project('broken', { 'tests/test_broken.py': 'import itertools\nimport pytest\nimport no_such_module_here\n\n\n@pytest.mark.parametrize("v", list(itertools.repeat(1, 2)))\ndef test_v(v):\n    pass\n' });
  const res = cli(root, ['--exact']);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /^tests\/test_broken\.py:3: error: pytest cannot collect this file: ModuleNotFoundError: No module named 'no_such_module_here'$/m);
  assert.match(res.stdout, /^tests\/test_broken\.py::test_v +1 rank/m);
  assert.match(res.stdout, /^tests\/test_computed\.py::test_ids_callable\[v3\] /m);
});

test('list --verify: exit 0 when distest and pytest agree, 1 with every difference printed', () => {
  const agreeing = cli(project('agree'), ['--verify']);
  assert.equal(agreeing.status, 0, agreeing.stdout + agreeing.stderr);
  assert.match(agreeing.stdout, /^16 pytest items: 16 listed alike; 0 missing, 0 extra, 0 with other rank counts$/m);

  const root = project('differ', {
    // pytest drops one test and makes another a 4-rank pytest-mpi test at collection: distest cannot know.
    'conftest.py': 'import pytest\n\n\ndef pytest_collection_modifyitems(items):\n    items[:] = [i for i in items if i.name != "test_dropped"]\n' +
      '    for item in items:\n        if item.name == "test_widened":\n            item.add_marker(pytest.mark.mpi(min_size=4))\n',
    'tests/test_hooked.py': 'def test_dropped():\n    pass\n\n\ndef test_widened():\n    pass\n\n\ndef check_extra():\n    pass\n',
  });
  // And PYTEST_ADDOPTS, which distest's static listing does not read, adds check_* functions.
  const res = cli(root, ['--verify'], { PYTEST_ADDOPTS: '-o python_functions=test_*\\ check_*' });
  assert.equal(res.status, 1, res.stdout + res.stderr);
  assert.match(res.stdout, /^missing +tests\/test_hooked\.py::check_extra$/m);
  assert.match(res.stdout, /^extra +tests\/test_hooked\.py::test_dropped$/m);
  assert.match(res.stdout, /^ranks +tests\/test_hooked\.py::test_widened +\(distest 1, pytest's plugins 4\)$/m);
  assert.match(res.stdout, /1 missing, 1 extra, 1 with other rank counts$/m);

  const broken = cli(project('verify-broken', { 'tests/test_broken.py': 'import no_such_module_here\n\n\ndef test_x():\n    pass\n' }), ['--verify']);
  assert.equal(broken.status, 1, broken.stdout + broken.stderr);
  assert.match(broken.stdout, /^error +tests\/test_broken\.py:1: pytest cannot collect it: ModuleNotFoundError: No module named 'no_such_module_here', 1 listed test not checked$/m);
  assert.doesNotMatch(broken.stdout, /^extra /m);

  // A file pytest skips at collection here (a dependency this environment lacks) is no difference: its tests are not checked.
  const skipping = cli(project('verify-skip', { 'tests/test_optional.py': 'import pytest\n\nnp = pytest.importorskip("no_such_module_here")\n\n\ndef test_x():\n    pass\n\n\ndef test_y():\n    pass\n' }), ['--verify']);
  assert.equal(skipping.status, 0, skipping.stdout + skipping.stderr);
  assert.match(skipping.stdout, /^skipped +tests\/test_optional\.py: pytest skips this file at collection here \(could not import 'no_such_module_here': No module named 'no_such_module_here'\), 2 listed tests not checked$/m);
  assert.match(skipping.stdout, /^16 pytest items: 16 listed alike; 0 missing, 0 extra, 0 with other rank counts; 2 listed in files pytest skips or cannot collect here, not checked$/m);

  const nested = spawnSync(process.execPath, [CLI, 'list', path.join(REPO, 'test/fixtures/agreement/nested'), '--verify', '--python', PYTHON], { encoding: 'utf8', env: { ...process.env, PYTEST_ADDOPTS: '' } });
  assert.equal(nested.status, 0, nested.stdout + nested.stderr);
  assert.match(nested.stdout, /^4 pytest items: 4 listed alike; 0 missing/m);

  const noPytest = cli(project('no-python'), ['--verify', '--python', '/nonexistent/python']);
  assert.equal(noPytest.status, 1);
  assert.match(noPytest.stderr, /\/nonexistent\/python -m pytest --collect-only/);
});

test('a nested test root runs from its own folder: its rules, ids and failure locations named from the workspace folder', () => {
  const root = path.join(scratch, 'nested-run');
  fs.cpSync(path.join(REPO, 'test/fixtures/agreement/nested'), root, { recursive: true });
  fs.appendFileSync(path.join(root, 'pkg/test_pkg.py'), '\n\ndef check_fails():\n    assert 1 == 2\n');
  const res = spawnSync(process.execPath, [CLI, 'run', root, '--json', '--python', PYTHON], { encoding: 'utf8', env: { ...process.env, PYTEST_ADDOPTS: '' } });
  assert.equal(res.status, 1, res.stdout + res.stderr);
  const results = JSON.parse(res.stdout) as { tests: { id: string; state: string; messages: { file: string | null; line: number | null }[] }[] };
  const states = Object.fromEntries(results.tests.map(t => [t.id, t.state]));
  assert.deepEqual(states, {
    'docs/test_doc.py::test_doc': 'passed',
    'pkg/inner/thing_spec.py::test_spec': 'passed',
    'pkg/test_pkg.py::check_b': 'passed',
    'pkg/test_pkg.py::check_fails': 'failed',
    'test_top.py::test_top': 'passed',
  });
  const failed = results.tests.find(t => t.id === 'pkg/test_pkg.py::check_fails')!;
  assert.ok(failed.messages.some(m => m.file === 'pkg/test_pkg.py' && m.line === 10), JSON.stringify(failed.messages));
});

test('a pytest collection that takes longer than allowed is stopped and says so', async () => {
  const root = project('slow', { 'conftest.py': 'import time\n\ntime.sleep(60)\n' });
  const started = Date.now();
  const collection = await collectProject(root, [], { python: PYTHON, mpiDefaultRanks: 2, timeoutMs: 2000 });
  assert.ok(Date.now() - started < 20_000, 'stopped at its timeout');
  assert.match(collection.failure ?? '', /-m pytest --collect-only took longer than 2 s and was stopped/);
});
