// Starts the bundled language server (dist/server.js) and speaks LSP to it over stdio, as an editor would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import {
  DidChangeConfigurationNotification, DidChangeTextDocumentNotification, DidChangeWatchedFilesNotification, DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification, DidSaveTextDocumentNotification, ExitNotification, FileChangeType, HoverRequest, InitializedNotification, InitializeRequest,
  PublishDiagnosticsNotification, ShutdownRequest, type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol';
import { startWithoutExtraCaCerts } from '../../src/core/extraCaCerts';
import { DiscoverAll, RescanNeeded, TestsChanged, type ServerSettings, type TestsChangedParams } from '../../src/protocol';

const repoRoot = path.resolve(__dirname, '../../..');
const mpiProject = path.join(repoRoot, 'test/fixtures/mpi-project');
const projectUri = pathToFileURL(mpiProject).href;

let server: ChildProcess;
let connection: MessageConnection;
let scratch: string;
const stderr: string[] = [];

/** Notifications as they arrive; `next` waits for the first one (already queued or future) that matches. */
class Inbox<T> {
  private readonly queue: T[] = [];
  private readonly waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];
  push(item: T): void {
    const waiter = this.waiters.find(w => w.match(item));
    if (waiter) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(item);
    } else {
      this.queue.push(item);
    }
  }
  next(match: (item: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
    const index = this.queue.findIndex(match);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; server stderr: ${stderr.join('')}`)), timeoutMs);
      this.waiters.push({ match, resolve: item => { clearTimeout(timer); resolve(item); } });
    });
  }
}
const testsChanged = new Inbox<TestsChangedParams>();
const diagnostics = new Inbox<PublishDiagnosticsParams>();
const logMessages = new Inbox<{ type: number; message: string }>();
let rescans = 0;
const USER_CERTS = '/nonexistent/certs.pem';

before(async () => {
  const serverJs = path.join(repoRoot, 'dist/server.js');
  assert.ok(fs.existsSync(serverJs), 'dist/server.js is missing: run node scripts/build.mjs first');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-server-'));
  // Started as the extension starts it: without the user's NODE_EXTRA_CA_CERTS, which the programs it
  // starts get back (checked by the exact pass's test).
  const certs = { NODE_EXTRA_CA_CERTS: USER_CERTS };
  server = spawn(process.execPath, [serverJs, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...certs, ...startWithoutExtraCaCerts(certs) } });
  server.stderr!.on('data', chunk => stderr.push(String(chunk)));
  connection = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  connection.onNotification(TestsChanged, params => testsChanged.push(params));
  connection.onNotification(PublishDiagnosticsNotification.type, params => diagnostics.push(params));
  connection.onNotification(RescanNeeded, () => { rescans++; });
  connection.onNotification('window/logMessage', (params: { type: number; message: string }) => logMessages.push(params));
  connection.listen();
  const settings: ServerSettings = { discovery: { launchers: [{ glob: 'tests/multi_node/**', launcher: '{mpiexec} -n {ranks} {python} {file}', ranks: 2 }], mpiDefaultRanks: 2, cache: true } };
  const result = await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: settings,
    workspaceFolders: [{ uri: projectUri, name: 'mpi-project' }, { uri: pathToFileURL(scratch).href, name: 'scratch' }],
  });
  assert.equal(result.capabilities.hoverProvider, true);
  await connection.sendNotification(InitializedNotification.type, {});
});

after(async () => {
  await connection.sendRequest(ShutdownRequest.type).catch(() => undefined);
  await connection.sendNotification(ExitNotification.type).catch(() => undefined);
  await new Promise(resolve => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
  connection.dispose();
  fs.rmSync(scratch, { recursive: true, force: true });
});

test('DiscoverAll scans the fixture project', async () => {
  const files = await connection.sendRequest(DiscoverAll, { folderUri: projectUri });
  const ids = files.flatMap(f => f.tests.map(t => t.id));
  for (const id of [
    'tests/test_parallel.py::test_allreduce[2]', 'tests/test_parallel.py::test_sizes[3]', 'tests/test_parallel.py::test_param[True-2]',
    'tests/test_mpi_marks.py::TestHalo::test_exchange', 'tests/test_crash.py::test_rank_1_segfaults',
  ]) assert.ok(ids.includes(id), `${id} missing from ${ids.join(', ')}`);
  const launched = files.find(f => f.file === 'tests/multi_node/test_launcher_unittest.py')!;
  assert.deepEqual(launched.tests.map(t => [t.id, t.framework, t.ranks]), [
    ['tests/multi_node/test_launcher_unittest.py::TestWorld::test_rank_zero_fails', 'unittest', 2],
    ['tests/multi_node/test_launcher_unittest.py::TestWorld::test_size', 'unittest', 2],
  ]);
});

test('a test file whose name is not valid UTF-8 is named in a warning, not sent to the editor (which cannot address it)', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-server-bytes-'));
  fs.writeFileSync(Buffer.concat([Buffer.from(`${folder}/test_`), Buffer.from([0xff]), Buffer.from('.py')]), 'def test_a():\n    pass\n');
  fs.writeFileSync(path.join(folder, 'test_ok.py'), 'def test_b():\n    pass\n');
  const files = await connection.sendRequest(DiscoverAll, { folderUri: pathToFileURL(folder).href });
  assert.deepEqual(files.map(f => f.file), ['test_ok.py']);
  const warning = await logMessages.next(m => m.message.includes('not valid UTF-8'), 'the warning about test_\\xff.py');
  assert.equal(warning.type, 2); // MessageType.Warning
  assert.match(warning.message, /^distest: test_\\xff\.py: the file name is not valid UTF-8, so the editor can neither open it nor show its tests \(1\); rename it, or run them with the distest command line/);
  fs.rmSync(folder, { recursive: true, force: true });
});

test('an open document is discovered live: invalid marker → diagnostic, fix → cleared, hover, close', async () => {
  const uri = pathToFileURL(path.join(mpiProject, 'tests/test_live_edit.py')).href;
  const text = 'import pytest_parallel\n\n@pytest_parallel.mark.parallel(0)\ndef test_live(comm):\n    pass\n';
  await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text } });

  const opened = await testsChanged.next(p => p.uri === uri, 'TestsChanged after open');
  assert.equal(opened.folderUri, projectUri);
  assert.equal(opened.file, 'tests/test_live_edit.py');
  assert.deepEqual(opened.tests.map(t => [t.id, t.ranks, t.invalid]), [
    ['tests/test_live_edit.py::test_live', null, 'pytest_parallel.mark.parallel: a rank count must be at least 1, got 0'],
  ]);
  const published = await diagnostics.next(p => p.uri === uri, 'diagnostics after open');
  assert.deepEqual(published.diagnostics.map(d => [d.severity, d.range, d.source]), [
    [1, { start: { line: 2, character: 1 }, end: { line: 2, character: 33 } }, 'distest'],
  ]);

  // Two quick edits: the debounce sends only the last state.
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: { line: 2, character: 31 }, end: { line: 2, character: 32 } }, text: '3' }],
  });
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 3 }, contentChanges: [{ range: { start: { line: 2, character: 31 }, end: { line: 2, character: 32 } }, text: '[2, 4]' }],
  });
  const edited = await testsChanged.next(p => p.uri === uri, 'TestsChanged after edit');
  assert.deepEqual(edited.tests.map(t => [t.id, t.ranks]), [['tests/test_live_edit.py::test_live[2]', 2], ['tests/test_live_edit.py::test_live[4]', 4]]);
  assert.deepEqual((await diagnostics.next(p => p.uri === uri, 'cleared diagnostics')).diagnostics, []);

  const hover = await connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 2, character: 10 } });
  assert.deepEqual(hover?.contents, { kind: 'plaintext', value: 'pytest_parallel: runs on 2 and 4 ranks: one test per count' });
  assert.equal(await connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 4, character: 2 } }), null);

  // Closed without saving: the file does not exist on disk, so it has no tests.
  await connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  assert.deepEqual((await testsChanged.next(p => p.uri === uri, 'TestsChanged after close')).tests, []);
});

test('files changed on disk are re-discovered; deleted files and folders lose their tests', async () => {
  const file = path.join(scratch, 'pkg', 'test_disk.py');
  fs.mkdirSync(path.dirname(file));
  fs.writeFileSync(file, 'import pytest\n\n@pytest.mark.mpi(min_size=3)\ndef test_disk():\n    pass\n');
  const uri = pathToFileURL(file).href;
  await connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri, type: FileChangeType.Created }] });
  const created = await testsChanged.next(p => p.uri === uri, 'TestsChanged after create');
  assert.deepEqual(created.tests.map(t => [t.id, t.framework, t.ranks]), [['pkg/test_disk.py::test_disk', 'pytest-mpi', 3]]);

  fs.rmSync(path.dirname(file), { recursive: true });
  await connection.sendNotification(DidChangeWatchedFilesNotification.type, {
    changes: [{ uri: pathToFileURL(path.dirname(file)).href, type: FileChangeType.Deleted }],
  });
  const deleted = await testsChanged.next(p => p.uri === uri, 'TestsChanged after folder delete');
  assert.deepEqual(deleted.tests, []);
});

test('a settings change re-discovers open documents and asks for a rescan', async () => {
  const uri = pathToFileURL(path.join(scratch, 'test_settings.py')).href;
  const text = 'import pytest\n\n@pytest.mark.mpi\ndef test_bare():\n    pass\n';
  await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text } });
  assert.equal((await testsChanged.next(p => p.uri === uri, 'TestsChanged after open')).tests[0].ranks, 2);
  await connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { distest: { mpiDefaultRanks: 5, launchers: [] } } });
  assert.equal((await testsChanged.next(p => p.uri === uri, 'TestsChanged after settings')).tests[0].ranks, 5);
  assert.equal(rescans, 1);
  await connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
});

test('the exact pass (trusted, on): a dynamic item turns into pytest\'s instances after DiscoverAll; a collection error is a diagnostic', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-server-exact-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/agreement/dynamic'), folder, { recursive: true });
  // pytest, started by the server, sees the user's NODE_EXTRA_CA_CERTS and not the server's own variable.
  fs.writeFileSync(path.join(folder, 'tests/test_env.py'), 'import os\nimport pytest\n\n\n@pytest.mark.parametrize("v", [os.environ.get("NODE_EXTRA_CA_CERTS"), os.environ.get("DISTEST_NODE_EXTRA_CA_CERTS")])\ndef test_env(v):\n    pass\n');
  // The same computed list, in a file whose import fails: pytest cannot collect it.
  fs.writeFileSync(path.join(folder, 'tests/test_broken.py'), 'import itertools\nimport pytest\nimport no_such_module_here\n\n\n@pytest.mark.parametrize("v", list(itertools.repeat(1, 2)))\ndef test_v(v):\n    pass\n');
  const folderUri = pathToFileURL(folder).href;
  await connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { distest: { mpiDefaultRanks: 2, launchers: [], exactPython: '/usr/bin/python3' } } });
  const files = await connection.sendRequest(DiscoverAll, { folderUri });
  const computed = files.find(f => f.file === 'tests/test_computed.py')!;
  // The static tree first, placeholders and all.
  assert.ok(computed.tests.some(t => t.id === 'tests/test_computed.py::test_ids_callable' && t.dynamic), JSON.stringify(computed.tests.map(t => t.id)));
  const resolved = await testsChanged.next(p => p.folderUri === folderUri && p.file === 'tests/test_computed.py', 'the resolved listing', 60_000);
  const byId = new Map(resolved.tests.map(t => [t.id, t]));
  assert.deepEqual([...byId.keys()].filter(id => id.includes('test_ids_callable')), [
    'tests/test_computed.py::test_ids_callable[v1]', 'tests/test_computed.py::test_ids_callable[v2]', 'tests/test_computed.py::test_ids_callable[v3]',
  ]);
  assert.equal(byId.get('tests/test_computed.py::test_ids_callable[v2]')?.groupId, 'tests/test_computed.py::test_ids_callable');
  assert.equal(byId.get('tests/test_computed.py::test_rank_count_from_variable')?.ranks, 3);
  assert.equal(resolved.tests.filter(t => t.dynamic).length, 0);
  const env = await testsChanged.next(p => p.folderUri === folderUri && p.file === 'tests/test_env.py' && !p.tests.some(t => t.dynamic), 'the resolved listing of test_env.py', 60_000);
  assert.deepEqual(env.tests.map(t => t.id), [`tests/test_env.py::test_env[${USER_CERTS}]`, 'tests/test_env.py::test_env[None]']);
  // Node warns when the file it names is missing: the server's node never tried to read it.
  assert.doesNotMatch(stderr.join(''), /extra certs/);
  const says = (d: { message: string | { value: string } }) => (typeof d.message === 'string' ? d.message : d.message.value);
  const broken = await diagnostics.next(p => p.uri.endsWith('tests/test_broken.py') && p.diagnostics.some(d => /pytest cannot collect/.test(says(d))), 'the collection error', 60_000);
  const error = broken.diagnostics.find(d => /pytest cannot collect/.test(says(d)))!;
  assert.match(says(error), /No module named 'no_such_module_here'/);
  assert.equal(error.range.start.line, 2); // line 3, where the import fails

  // A change on disk (a save): the static listing first, then pytest's again, with the new instance.
  const file = path.join(folder, 'tests/test_computed.py');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('[1, 2, 3], ids=make_id', '[1, 2, 3, 4], ids=make_id'));
  await connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: pathToFileURL(file).href, type: FileChangeType.Changed }] });
  const again = await testsChanged.next(p => p.file === 'tests/test_computed.py' && p.tests.some(t => t.id.endsWith('test_ids_callable[v4]')), 'the listing resolved after the save', 60_000);
  assert.equal(again.tests.filter(t => t.dynamic).length, 0);

  // An open document: edited (pytest cannot see unsaved text), then saved: settled from the saved file.
  const uri = pathToFileURL(file).href;
  const saved = fs.readFileSync(file, 'utf8');
  await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text: saved } });
  const edited = saved.replace('[1, 2, 3, 4], ids=make_id', '[1, 2, 3, 4, 5], ids=make_id');
  await connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ text: edited }] });
  const live = await testsChanged.next(p => p.uri === uri && p.tests.some(t => t.id === 'tests/test_computed.py::test_ids_callable' && t.dynamic), 'the live, unsaved listing');
  assert.ok(live.tests.some(t => t.dynamic));
  fs.writeFileSync(file, edited);
  await connection.sendNotification(DidSaveTextDocumentNotification.type, { textDocument: { uri } });
  await testsChanged.next(p => p.uri === uri && p.tests.some(t => t.id.endsWith('test_ids_callable[v5]')), 'the listing resolved after the save', 60_000);
  await connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  await connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { distest: { mpiDefaultRanks: 2, launchers: [] } } });
  fs.rmSync(folder, { recursive: true, force: true });
});

test('an open file below a nested test root is discovered with that root\'s rules and named from the workspace folder', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-server-nested-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/agreement/nested'), folder, { recursive: true });
  const files = await connection.sendRequest(DiscoverAll, { folderUri: pathToFileURL(folder).href });
  assert.deepEqual(files.flatMap(f => f.tests.map(t => [t.id, t.testRoot ?? ''])), [
    ['docs/test_doc.py::test_doc', ''], ['pkg/inner/thing_spec.py::test_spec', 'pkg/inner'], ['pkg/test_pkg.py::check_b', 'pkg'], ['test_top.py::test_top', ''],
  ]);
  const uri = pathToFileURL(path.join(folder, 'pkg/test_pkg.py')).href;
  const text = 'def test_a_not_collected_here():\n    pass\n\n\ndef check_b():\n    pass\n\n\ndef check_live():\n    pass\n';
  await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text } });
  const opened = await testsChanged.next(p => p.uri === uri, 'TestsChanged after open');
  assert.deepEqual(opened.tests.map(t => [t.id, t.file, t.testRoot]), [
    ['pkg/test_pkg.py::check_b', 'pkg/test_pkg.py', 'pkg'], ['pkg/test_pkg.py::check_live', 'pkg/test_pkg.py', 'pkg'],
  ]);
  await connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  fs.rmSync(folder, { recursive: true, force: true });
});
