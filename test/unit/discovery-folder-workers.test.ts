import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { discoverFolder, PrestartedHelpers, serveDiscoveryWorker } from '../../src/core/discovery/folder';
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

  const spareCores = Math.min(3, os.availableParallelism() - 1);

  test('prestarted helpers are what a bulk discovery takes, and it finds the same', async () => {
    const alone = await discoverFolder(root, baseConfig, await parser());
    const helpers = new PrestartedHelpers(__filename);
    assert.equal(helpers.count, spareCores);
    assert.deepEqual(await discoverFolder(root, baseConfig, await parser(), { workerScript: __filename, helpers }), alone);
    assert.equal(helpers.count, 0);
  });

  test('a prestarted helper gets its job by message; when it dies on it, the calling thread does its chunks', async () => {
    const marker = path.join(root, 'job-received');
    const dying = path.join(root, 'prestarted-dying-helper.js');
    fs.writeFileSync(dying, `const { parentPort } = require('node:worker_threads');
parentPort.once('message', job => {
  Atomics.add(new Int32Array(job.claimed), 0, 1);
  require('node:fs').writeFileSync(${JSON.stringify(marker)}, String(job.chunks.length));
  process.exit(1);
});
`);
    const alone = await discoverFolder(root, baseConfig, await parser());
    assert.deepEqual(await discoverFolder(root, baseConfig, await parser(), { workerScript: __filename, helpers: new PrestartedHelpers(dying) }), alone);
    assert.equal(fs.readFileSync(marker, 'utf8'), '18');
  });

  test('a discovery of a few files takes no prestarted helper and ends them; one that failed to load is dropped', async () => {
    const few = makeTree({ 'test_a.py': kinds[0], 'test_b.py': kinds[1] });
    const helpers = new PrestartedHelpers(__filename);
    assert.equal((await discoverFolder(few, baseConfig, await parser(), { workerScript: __filename, helpers })).length, 2);
    assert.equal(helpers.count, 0);
    const failing = path.join(root, 'failing-helper.js');
    fs.writeFileSync(failing, 'throw new Error("cannot load");\n');
    const broken = new PrestartedHelpers(failing);
    for (let waited = 0; broken.count && waited < 10_000; waited += 20) await new Promise(resolve => setTimeout(resolve, 20));
    assert.equal(broken.count, 0);
    const alone = await discoverFolder(root, baseConfig, await parser());
    assert.deepEqual(await discoverFolder(root, baseConfig, await parser(), { workerScript: __filename, helpers: broken }), alone);
  });
}
