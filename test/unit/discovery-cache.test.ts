import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DiscoveryCache } from '../../src/core/discovery/cache';
import { discoverFolder } from '../../src/core/discovery/folder';
import type { FileDiscovery } from '../../src/core/types';
import { baseConfig, py } from './discovery-helpers';
import { makeTree } from './tmpTree';

const PROJECT: Record<string, string> = {
  'pytest.ini': '[pytest]\n',
  'tests/conftest.py': py(`
    import pytest

    @pytest.fixture(params=[1, 2])
    def size(request):
        return request.param
  `),
  'tests/bases.py': py(`
    import unittest

    class Base(unittest.TestCase):
        def test_inherited(self):
            pass
  `),
  'tests/test_fixture.py': py(`
    def test_sized(size):
        pass
  `),
  'tests/test_sub.py': py(`
    from bases import Base

    class TestSub(Base):
        def test_own(self):
            pass
  `),
  'tests/test_plain.py': py(`
    import pytest

    @pytest.mark.mpi(min_size=3)
    def test_plain():
        pass
  `),
};

/** Discovery of a fresh process: a new cache object over the same folder, no parser or modules kept. */
async function withCache(root: string, dir: string, options: { version?: string; log?: string[]; maxBytes?: number; maxFolders?: number } = {}) {
  const cache = new DiscoveryCache({ dir, version: options.version ?? 'v1', log: line => options.log?.push(line), maxBytes: options.maxBytes, maxFolders: options.maxFolders });
  const files = await discoverFolder(root, baseConfig, undefined, { cache });
  return { files, hits: cache.opened(root)?.hits ?? 0 };
}

const ids = (files: FileDiscovery[]) => files.flatMap(f => f.tests.map(t => t.id));
const cacheFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter(n => n.endsWith('.bin')) : []);

function setUp() {
  const root = makeTree(PROJECT, 'distest-cache-');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-cache-store-'));
  return { root, dir, done: () => [root, dir].forEach(d => fs.rmSync(d, { recursive: true, force: true })) };
}

test('cold, warm and edited discovery with the cache give the items of discovery without it', async () => {
  const { root, dir, done } = setUp();
  try {
    const plain = await discoverFolder(root, baseConfig);
    assert.ok(ids(plain).includes('tests/test_fixture.py::test_sized[2]'));
    assert.ok(ids(plain).includes('tests/test_sub.py::TestSub::test_inherited'));
    const cold = await withCache(root, dir);
    assert.deepEqual(cold.files, plain);
    assert.equal(cold.hits, 0);
    assert.equal(cacheFiles(dir).length, 1);
    const warm = await withCache(root, dir);
    assert.deepEqual(warm.files, plain);
    assert.equal(warm.hits, 3, 'every test file from the cache');
    // A content change: that file is discovered again, the others come from the cache.
    fs.appendFileSync(path.join(root, 'tests/test_plain.py'), '\n\ndef test_added():\n    pass\n');
    const edited = await withCache(root, dir);
    assert.deepEqual(edited.files, await discoverFolder(root, baseConfig));
    assert.ok(ids(edited.files).includes('tests/test_plain.py::test_added'));
    assert.equal(edited.hits, 2);
    // A file of the same size and times but other bytes is still seen (its change time and hash differ).
    const file = path.join(root, 'tests/test_plain.py');
    const stat = fs.statSync(file);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('test_added', 'test_addex'));
    fs.utimesSync(file, stat.atime, stat.mtime);
    assert.ok(ids((await withCache(root, dir)).files).includes('tests/test_plain.py::test_addex'));
    // A removed file leaves the cache with it.
    fs.rmSync(file);
    assert.deepEqual((await withCache(root, dir)).files, await discoverFolder(root, baseConfig));
  } finally {
    done();
  }
});

test('a dependency change rediscovers its dependents: conftest fixture params, an imported base class, a module that shadows an import', async () => {
  const { root, dir, done } = setUp();
  try {
    await withCache(root, dir);
    fs.writeFileSync(path.join(root, 'tests/conftest.py'), PROJECT['tests/conftest.py'].replace('params=[1, 2]', 'params=[1, 2, 3]'));
    const params = await withCache(root, dir);
    assert.ok(ids(params.files).includes('tests/test_fixture.py::test_sized[3]'));
    assert.deepEqual(params.files, await discoverFolder(root, baseConfig));

    fs.appendFileSync(path.join(root, 'tests/bases.py'), '\n    def test_more(self):\n        pass\n');
    const base = await withCache(root, dir);
    assert.ok(ids(base.files).includes('tests/test_sub.py::TestSub::test_more'));
    assert.deepEqual(base.files, await discoverFolder(root, baseConfig));

    // A new file where the import finds it first (tests/bases/ is not; a package next to the test is).
    fs.mkdirSync(path.join(root, 'tests/sub'));
    fs.renameSync(path.join(root, 'tests/test_sub.py'), path.join(root, 'tests/sub/test_sub.py'));
    await withCache(root, dir);
    fs.writeFileSync(path.join(root, 'tests/sub/bases.py'), 'import unittest\n\nclass Base(unittest.TestCase):\n    def test_shadow(self):\n        pass\n');
    const shadowed = await withCache(root, dir);
    assert.ok(ids(shadowed.files).includes('tests/sub/test_sub.py::TestSub::test_shadow'), ids(shadowed.files).join(', '));
    assert.deepEqual(shadowed.files, await discoverFolder(root, baseConfig));

    // pytest's configuration is part of the key.
    fs.writeFileSync(path.join(root, 'pytest.ini'), '[pytest]\npython_functions = check_*\n');
    const config = await withCache(root, dir);
    assert.equal(config.hits, 0);
    assert.deepEqual(config.files, await discoverFolder(root, baseConfig));
  } finally {
    done();
  }
});

test('another discovery version (a distest upgrade) reuses nothing', async () => {
  const { root, dir, done } = setUp();
  try {
    await withCache(root, dir, { version: 'v1' });
    assert.equal((await withCache(root, dir, { version: 'v1' })).hits, 3);
    const upgraded = await withCache(root, dir, { version: 'v2' });
    assert.equal(upgraded.hits, 0);
    assert.deepEqual(upgraded.files, await discoverFolder(root, baseConfig));
    assert.equal((await withCache(root, dir, { version: 'v2' })).hits, 3);
  } finally {
    done();
  }
});

test('a corrupt or truncated cache file is ignored with a log line and replaced', async () => {
  const { root, dir, done } = setUp();
  try {
    const plain = await discoverFolder(root, baseConfig);
    await withCache(root, dir);
    const [name] = cacheFiles(dir);
    const file = path.join(dir, name);
    const good = fs.readFileSync(file);
    // Cut short, foreign, the first layout's JSON, an entry's bytes changed (a string out of bounds),
    // and bytes after the last entry.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 2] = 0xff;
    const broken = [good.subarray(0, Math.floor(good.length / 2)), Buffer.from('garbage'), Buffer.from('{"format":1}'), flipped, Buffer.concat([good, Buffer.from([0])])];
    for (const bytes of broken) {
      fs.writeFileSync(file, bytes);
      const log: string[] = [];
      const read = await withCache(root, dir, { log });
      assert.deepEqual(read.files, plain);
      assert.equal(read.hits, 0);
      assert.equal(log.length, 1, `${bytes.subarray(0, 40).toString('latin1')}: ${log.join(' | ')}`);
      assert.match(log[0], /^distest: discovery cache: .* is not a valid cache file \(.*\); discovering without it$/);
      assert.equal((await withCache(root, dir)).hits, 3, 'the next discovery wrote a good file');
    }
  } finally {
    done();
  }
});

test('the cache stays within its bounds: folders and bytes', async () => {
  const { root, dir, done } = setUp();
  const others = [makeTree(PROJECT, 'distest-cache-'), makeTree(PROJECT, 'distest-cache-')];
  try {
    for (const folder of [root, ...others]) await withCache(folder, dir, { maxFolders: 2 });
    assert.equal(cacheFiles(dir).length, 2);
    assert.equal((await withCache(root, dir, { maxFolders: 2 })).hits, 0, 'the oldest folder was dropped');
    const log: string[] = [];
    const small = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-cache-small-'));
    const read = await withCache(root, small, { maxBytes: 100, log });
    assert.deepEqual(read.files, await discoverFolder(root, baseConfig));
    assert.deepEqual(cacheFiles(small), []);
    assert.match(log.join('\n'), /more than the 100 allowed; not written/);
    fs.rmSync(small, { recursive: true, force: true });
  } finally {
    done();
    for (const folder of others) fs.rmSync(folder, { recursive: true, force: true });
  }
});

test('a stamp taken within the racy window is rechecked by content (same size, same mtime, other bytes)', () => {
  const { root, dir, done } = setUp();
  try {
    const file = path.join(root, 'tests/test_plain.py');
    const rel = 'tests/test_plain.py';
    const discovery: FileDiscovery = { file: rel, tests: [], diagnostics: [] };
    const stampOf = () => {
      const s = fs.statSync(file);
      return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
    };
    // The entry claims other bytes than the file holds, under the file's own current stamp: what a
    // file rewritten within its timestamps' resolution after it was read looks like.
    const folder = new DiscoveryCache({ dir }).folder(root, 'k');
    folder.put(discovery, { hash: 'not-the-content', stamp: stampOf() });
    assert.equal(folder.lookup(rel, file), undefined, 'a fresh stamp does not vouch for the content');
    // Outside the racy window (none here, as for a file last changed long before it was read) the stamp
    // vouches for the content, as git's index does.
    const aged = new DiscoveryCache({ dir, racyMs: -1000 }).folder(root, 'k');
    aged.put(discovery, { hash: 'not-the-content', stamp: stampOf() });
    assert.equal(aged.lookup(rel, file), discovery);
  } finally {
    done();
  }
});
