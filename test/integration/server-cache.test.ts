// The language server's discovery cache: a second server (a reopened workspace) lists from the cache the
// first one wrote, and a saved change to a file other tests depend on makes the server ask for a rescan
// that lists the new items. The first listing of a reopened workspace is the cached one, answered before the
// disk is checked; what changed while the editor was closed follows file by file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  DidChangeWatchedFilesNotification, ExitNotification, FileChangeType, InitializedNotification, InitializeRequest, ShutdownRequest,
} from 'vscode-languageserver-protocol';
import { DiscoverAll, RescanNeeded, TestsChanged, type ServerInitOptions, type TestsChangedParams } from '../../src/protocol';

const repoRoot = path.resolve(__dirname, '../../..');

async function startServer(folder: string, cacheDir: string) {
  const server = spawn(process.execPath, [path.join(repoRoot, 'dist/server.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const connection = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  const logs: string[] = [];
  let rescans = 0;
  const changed: TestsChangedParams[] = [];
  connection.onNotification('window/logMessage', (params: { message: string }) => { logs.push(params.message); });
  connection.onNotification(RescanNeeded, () => { rescans++; });
  connection.onNotification(TestsChanged, params => { changed.push(params); });
  connection.listen();
  const options: ServerInitOptions = { discovery: { launchers: [], mpiDefaultRanks: 2, cache: true }, cacheDir };
  await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: options,
    workspaceFolders: [{ uri: pathToFileURL(folder).href, name: 'project' }],
  });
  await connection.sendNotification(InitializedNotification.type, {});
  return {
    connection, logs, changed, rescans: () => rescans,
    discoverAll: () => connection.sendRequest(DiscoverAll, { folderUri: pathToFileURL(folder).href }),
    stop: async () => {
      await connection.sendRequest(ShutdownRequest.type).catch(() => undefined);
      await connection.sendNotification(ExitNotification.type).catch(() => undefined);
      await new Promise(resolve => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
      connection.dispose();
    },
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;
type Listing = Awaited<ReturnType<Server['discoverAll']>>;

/**
 * A copy of the mpi-project fixture with `files` added, discovered by a first server that writes the
 * cache; `whileClosed` changes the folder while no server runs; `reopened` gets a second server over the
 * same cache, the first one's listing and the folder.
 */
async function reopen(files: Record<string, string>, whileClosed: (folder: string) => void, reopened: (server: Server, cold: Listing, folder: string) => Promise<void>) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-server-cache-'));
  const folder = path.join(scratch, 'project');
  const cacheDir = path.join(scratch, 'cache');
  fs.cpSync(path.join(repoRoot, 'test/fixtures/mpi-project'), folder, { recursive: true });
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(folder, file), text);
  try {
    const first = await startServer(folder, cacheDir);
    const cold = await first.discoverAll();
    await first.stop();
    assert.equal(fs.readdirSync(cacheDir).filter(n => n.endsWith('.bin')).length, 1, 'the cache file was written');
    whileClosed(folder);
    const second = await startServer(folder, cacheDir);
    try {
      await reopened(second, cold, folder);
    } finally {
      await second.stop();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

test('a reopened workspace lists from the cache; a saved conftest change asks for a rescan with the new items', async () => {
  const conftest = (params: string) => `import pytest\n\n@pytest.fixture(params=[${params}])\ndef size(request):\n    return request.param\n`;
  await reopen({ 'tests/conftest.py': conftest('1, 2'), 'tests/test_sized.py': 'def test_sized(size):\n    pass\n' }, () => undefined, async (second, cold, folder) => {
    assert.deepEqual(await second.discoverAll(), cold);
    const ids = (files: Listing) => files.flatMap(f => f.tests.map(t => t.id));
    assert.ok(ids(cold).includes('tests/test_sized.py::test_sized[2]'));
    fs.writeFileSync(path.join(folder, 'tests/conftest.py'), conftest('1, 2, 3'));
    await second.connection.sendNotification(DidChangeWatchedFilesNotification.type, {
      changes: [{ uri: pathToFileURL(path.join(folder, 'tests/conftest.py')).href, type: FileChangeType.Changed }],
    });
    for (let waited = 0; second.rescans() === 0 && waited < 5000; waited += 20) await new Promise(resolve => setTimeout(resolve, 20));
    assert.equal(second.rescans(), 1, 'a rescan is asked for');
    assert.ok(ids(await second.discoverAll()).includes('tests/test_sized.py::test_sized[3]'));
  });
});

test('a reopened workspace is listed from the cache at once; files changed, added or deleted while it was closed follow as TestsChanged', async () => {
  const files = { 'tests/test_edited.py': 'def test_one():\n    pass\n', 'tests/test_deleted.py': 'def test_gone():\n    pass\n' };
  await reopen(files, folder => {
    fs.writeFileSync(path.join(folder, 'tests/test_edited.py'), 'def test_one():\n    pass\n\ndef test_two():\n    pass\n');
    fs.rmSync(path.join(folder, 'tests/test_deleted.py'));
    fs.writeFileSync(path.join(folder, 'tests/test_added.py'), 'def test_new():\n    pass\n');
  }, async (second, cold) => {
    assert.deepEqual(await second.discoverAll(), cold, 'the first answer is the cached listing');
    for (let waited = 0; second.changed.length < 3 && waited < 10_000; waited += 20) await new Promise(resolve => setTimeout(resolve, 20));
    const byFile = new Map(second.changed.map(c => [c.file, c.tests.map(t => t.id)]));
    assert.deepEqual(byFile, new Map([
      ['tests/test_added.py', ['tests/test_added.py::test_new']],
      ['tests/test_deleted.py', []],
      ['tests/test_edited.py', ['tests/test_edited.py::test_one', 'tests/test_edited.py::test_two']],
    ]), 'only the three files that changed are sent, with their tests on disk');
    const checked = await second.discoverAll();
    assert.deepEqual(checked.map(f => f.file), [...cold.map(f => f.file).filter(f => f !== 'tests/test_deleted.py'), 'tests/test_added.py'].sort(),
      'a later DiscoverAll answers the checked listing');
  });
});
