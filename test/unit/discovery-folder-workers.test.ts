import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { discoverFolder, serveDiscoveryWorker } from '../../src/core/discovery/folder';
import { baseConfig, parser } from './discovery-helpers';
import { makeTree } from './tmpTree';

// This bundle is also the helper threads' script (discoverFolder's workerScript).
if (!serveDiscoveryWorker()) {
  const kinds = [
    'import pytest\n\n@pytest.mark.parametrize("n", [1, 2, 3])\ndef test_p(n):\n    pass\n',
    'import pytest_parallel\n\n@pytest_parallel.mark.parallel([2, 4])\ndef test_r(comm):\n    pass\n',
    'class TestC:\n    def test_a(self):\n        pass\n',
    'def test_broken(:\n',
  ];
  // Enough files for helper threads (discoverFolder leaves small folders to the calling thread).
  const root = makeTree(Object.fromEntries(Array.from({ length: 900 }, (_, i) => [`pkg_${i % 9}/test_m${i}.py`, kinds[i % kinds.length]])));

  test('helper threads find what the calling thread alone finds, in the same order', async () => {
    const alone = await discoverFolder(root, baseConfig, await parser());
    assert.equal(alone.length, 900);
    assert.deepEqual(await discoverFolder(root, baseConfig, await parser(), { workerScript: __filename }), alone);
  });

  test('beforeBulkParse is called once, with the number of parsing threads, before a folder of many files is parsed, never for a few', async () => {
    const calls: number[] = [];
    await discoverFolder(root, baseConfig, await parser(), { workerScript: __filename, beforeBulkParse: threads => calls.push(threads) });
    assert.deepEqual(calls, [Math.min(4, os.availableParallelism())]);
    await discoverFolder(root, baseConfig, await parser(), { beforeBulkParse: threads => calls.push(threads) });
    assert.deepEqual(calls.slice(1), [1]);
    const few = makeTree({ 'test_a.py': kinds[0], 'test_b.py': kinds[1] });
    await discoverFolder(few, baseConfig, await parser(), { workerScript: __filename, beforeBulkParse: threads => calls.push(threads) });
    assert.equal(calls.length, 2);
  });

  test('chunks a helper claimed and never finished are done by the calling thread', async () => {
    const dying = path.join(root, 'dying-helper.js');
    fs.writeFileSync(dying, `const { workerData } = require('node:worker_threads');
Atomics.add(new Int32Array(workerData.distestDiscoveryWorker.claimed), 0, 1);
process.exit(1);\n`);
    const alone = await discoverFolder(root, baseConfig, await parser());
    assert.deepEqual(await discoverFolder(root, baseConfig, await parser(), { workerScript: dying }), alone);
  });
}
