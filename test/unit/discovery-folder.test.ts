import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DiscoveryConfig } from '../../src/core/discovery/config';
import { isTestFile } from '../../src/core/discovery/registry';
import { discoverFolder, findTestFiles } from '../../src/core/discovery/folder';
import { baseConfig, parser } from './discovery-helpers';
import { makeTree } from './tmpTree';

test('isTestFile follows python_files and launcher globs', () => {
  const config: DiscoveryConfig = { ...baseConfig, launchers: [{ glob: 'mpi/**/*.py', launcher: 'mpiexec {file}', ranks: 2 }] };
  assert.equal(isTestFile('test_a.py', config), true);
  assert.equal(isTestFile('pkg/sub/a_test.py', config), true);
  assert.equal(isTestFile('pkg/test_a.pyc', config), false);
  assert.equal(isTestFile('pkg/helpers.py', config), false);
  assert.equal(isTestFile('pkg/conftest.py', config), false);
  assert.equal(isTestFile('mpi/run/world.py', config), true);
  // A newline is a legal file name character; fnmatch's * matches it, and so does the launcher glob's **.
  assert.equal(isTestFile('mpi/run/wo\nrld.py', config), true);
  assert.equal(isTestFile('test_a\nb.py', config), true);
});

test('names that are not valid UTF-8 are found and read: files and folders, bytes escaped as Python does', async () => {
  const root = makeTree({ 'test_ok.py': 'def test_ok():\n    pass\n' });
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map(p => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  fs.mkdirSync(bytes(root, '/d', [0xfe]));
  fs.writeFileSync(bytes(root, '/d', [0xfe], '/test_', [0xff], '.py'), 'def test_a():\n    pass\n');
  try {
    const results = await discoverFolder(root, baseConfig, await parser());
    assert.deepEqual(results.flatMap(r => r.tests.map(t => t.id)), ['d\uDCFE/test_\uDCFF.py::test_a', 'test_ok.py::test_ok']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('discoverFolder walks the tree, skips excluded folders, keeps odd names intact', async () => {
  const test = 'def test_it():\n    pass\n';
  const root = makeTree({
    'test_top.py': test,
    'pkg/deep/er/test_deep.py': test,
    'pkg/helpers.py': test,
    'odd dir/test_$(touch x) `a`;.py': test,
    '.venv/lib/test_venv.py': test,
    '.git/test_git.py': test,
    'node_modules/x/test_nm.py': test,
    'build/test_build.py': test,
    'pkg/__pycache__/test_cache.py': test,
    'env/pyvenv.cfg': 'home = /usr/bin\n',
    'env/test_env.py': test,
    'oldenv/bin/activate': '',
    'oldenv/lib/test_oldenv.py': test,
    'site-packages/test_sp.py': test,
  });
  try {
    const results = await discoverFolder(root, baseConfig, await parser());
    // Virtualenvs are skipped (pytest 8's pyvenv.cfg, pytest 7's bin/activate); a bare site-packages folder is not.
    assert.deepEqual(results.map(r => r.file), ['odd dir/test_$(touch x) `a`;.py', 'pkg/deep/er/test_deep.py', 'site-packages/test_sp.py', 'test_top.py']);
    assert.deepEqual(results[0].tests.map(t => t.id), ['odd dir/test_$(touch x) `a`;.py::test_it']);
    assert.equal(fs.existsSync(path.join(root, 'x')), false);
    assert.deepEqual(await findTestFiles(root, baseConfig), results.map(r => r.file));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('discoverFolder on a missing folder finds nothing and creates its own parser', async () => {
  assert.deepEqual(await discoverFolder(path.join(os.tmpdir(), 'distest-no-such-folder'), baseConfig), []);
});
