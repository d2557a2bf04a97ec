// API-level tests inside a real extension host (code-server's Node host, or VS Code desktop through
// @vscode/test-electron), on a copy of examples/ as the workspace.
import * as assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { resolveAllocation, type ResolvedAllocation } from '../../../src/core/allocation/resolve';
import { PythonTestParser } from '../../../src/core/discovery/parser';
import { pythonFor, type DistestSettings } from '../../../src/core/settings';
import { HostPool } from '../../../src/core/transport/pool';
import type { DistestApi } from '../../../src/extension';
import type { TestSpec } from '../../../src/core/types';
import { runRequest, type RunDeps } from '../../../src/vscode/testRunner';
import { FolderTestTree, parseItemId } from '../../../src/vscode/testTree';
import { itemsByNodeId, poll, recordRuns, workspaceUri, type Outcome } from './helpers';

suite('distest in a real extension host', () => {
  let api: DistestApi;

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<DistestApi>('distest.distest');
    assert.ok(extension, 'distest.distest is loaded');
    api = await extension.activate();
  });

  test('activates and exports its API', () => {
    assert.equal(api.controller.id, 'distest');
    assert.equal(typeof api.refresh, 'function');
  });

  test('discovers the demo tests through the language server, with rank counts', async () => {
    await api.discovered;
    const items = itemsByNodeId(api.controller);
    const expected: Array<[string, string]> = [
      ['tests/test_halo.py::test_halo_exchange[2]', '2 ranks'],
      ['tests/test_halo.py::test_global_sum[2]', '2 ranks'],
      ['tests/test_halo.py::test_global_sum[4]', '4 ranks'],
      ['tests/test_halo.py::test_decomposition_is_balanced[3]', '3 ranks'],
      ['tests/test_collectives.py::test_gather_rank_ids', '2 ranks'],
      ['tests/test_collectives.py::TestReductions::test_max_residual', '2 ranks'],
      ['tests/test_faults.py::test_rank_1_segfaults', '2 ranks'],
    ];
    for (const [id, description] of expected) {
      const item = items.get(id);
      assert.ok(item, `no item ${id}; have: ${[...items.keys()].join(', ')}`);
      assert.equal(item.description, description, id);
    }
    const invalid = items.get('tests/test_invalid_markers.py::test_zero_ranks');
    assert.ok(invalid?.error, 'the parallel(0) test is shown errored');
  });

  test('publishes a diagnostic at the invalid marker', async () => {
    const uri = vscode.Uri.joinPath(workspaceUri(), 'tests/test_invalid_markers.py');
    await vscode.window.showTextDocument(uri);
    const diagnostics = await poll('a diagnostic on test_invalid_markers.py', () => {
      const found = vscode.languages.getDiagnostics(uri);
      return found.length ? found : undefined;
    });
    assert.match(diagnostics[0].message, /at least 1/);
    assert.equal(diagnostics[0].range.start.line + 1, 5, 'on the @pytest_parallel.mark.parallel(0) line');
  });

  test('a run through the Test Explorer reports per-test results', async () => {
    const recorder = recordRuns(api.controller);
    try {
      await vscode.window.showTextDocument(vscode.Uri.joinPath(workspaceUri(), 'tests/test_halo.py'));
      // The workbench only pulls a controller's items once something observes them (the Testing view);
      // without it the run commands resolve at once and run nothing.
      await vscode.commands.executeCommand('workbench.view.testing.focus');
      await vscode.commands.executeCommand('testing.runCurrentFile'); // resolves when the run has ended
    } finally {
      recorder.restore();
    }
    const items = itemsByNodeId(api.controller);
    const stateOf = (nodeId: string) => recorder.outcomes.get(items.get(nodeId)?.id ?? nodeId);
    assert.equal(stateOf('tests/test_halo.py::test_halo_exchange[2]')?.state, 'passed');
    assert.equal(stateOf('tests/test_halo.py::test_global_sum[2]')?.state, 'passed');
    assert.equal(stateOf('tests/test_halo.py::test_global_sum[4]')?.state, 'passed');
    const failure = stateOf('tests/test_halo.py::test_decomposition_is_balanced[3]');
    assert.equal(failure?.state, 'failed');
    assert.match(failure.messages.join('\n'), /rank 1 owns 5 of 11 cells/);
  });

  const seamSpec = (name: string): TestSpec => ({
    id: `tests/test_seams.py::${name}`, label: name, file: 'tests/test_seams.py', range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework: 'pytest-mpi', ranks: 2,
  });

  /** runRequest over its seams: a controller and tree of the test's own, the allocation and trust given. */
  async function runThroughSeams(
    workspace: RunDeps['workspace'], resolve: (settings: DistestSettings) => Promise<ResolvedAllocation>,
    file = 'tests/test_seams.py', specs = [seamSpec('test_a'), seamSpec('test_b')],
  ): Promise<{ outcomes: Map<string, Outcome>; resolved: number }> {
    const controller = vscode.tests.createTestController(`distest-seams-${Date.now()}`, 'distest seams');
    try {
      const folder = vscode.workspace.workspaceFolders?.[0];
      assert.ok(folder);
      const tree = new FolderTestTree(controller, folder, controller.items);
      tree.replaceFile(file, specs);
      let resolved = 0;
      const recorder = recordRuns(controller);
      const deps: RunDeps = {
        controller, trees: () => [tree], workspace, log: { warn: () => undefined, error: () => undefined },
        allocation: { startRun: () => undefined, allocationFor: (_folder, settings) => ({ label: 'nowhere:1', resolve: () => { resolved++; return resolve(settings); } }) },
      };
      await runRequest(deps, new vscode.TestRunRequest(), new vscode.CancellationTokenSource().token);
      recorder.restore();
      return { outcomes: recorder.outcomes, resolved };
    } finally {
      controller.dispose();
    }
  }

  test('runRequest in an untrusted folder: every test errored with the reason, no allocation asked for', async () => {
    const { outcomes, resolved } = await runThroughSeams({ isTrusted: false, getConfiguration: vscode.workspace.getConfiguration }, () => Promise.reject(new Error('must not be asked')));
    assert.equal(resolved, 0);
    assert.equal(outcomes.size, 2);
    for (const outcome of outcomes.values()) {
      assert.equal(outcome.state, 'errored');
      assert.match(outcome.messages.join('\n'), /does not run tests in an untrusted folder/);
    }
  });

  test('runRequest when no allocation can be had: every test errored with its reason', async () => {
    const { outcomes, resolved } = await runThroughSeams(vscode.workspace, () => Promise.reject(new Error('the host key of node1 is not trusted: refused by the user')));
    assert.equal(resolved, 1);
    assert.equal(outcomes.size, 2);
    for (const outcome of outcomes.values()) {
      assert.equal(outcome.state, 'errored');
      assert.deepEqual(outcome.messages, ['allocation nowhere:1: the host key of node1 is not trusted: refused by the user']);
    }
  });

  test('runRequest on this machine: real mpirun and pytest, per-test states, the failure at its file and line', async function () {
    this.timeout(120_000);
    const extension = vscode.extensions.getExtension<DistestApi>('distest.distest');
    assert.ok(extension);
    const file = 'tests/test_halo.py';
    const text = fs.readFileSync(path.join(workspaceUri().fsPath, file), 'utf8');
    const parser = await PythonTestParser.create({ wasmDir: path.join(extension.extensionPath, 'dist') });
    const wanted = ['tests/test_halo.py::test_halo_exchange[2]', 'tests/test_halo.py::test_decomposition_is_balanced[3]'];
    const specs = parser.discover(file, text, { launchers: [], mpiDefaultRanks: 2 }).tests.filter(t => wanted.includes(t.id));
    assert.deepEqual(specs.map(s => s.id), wanted);
    const { outcomes, resolved } = await runThroughSeams(vscode.workspace, settings => resolveAllocation({ kind: 'local' }, { settings, python: pythonFor(settings), open: new HostPool({}).open }), file, specs);
    assert.equal(resolved, 1);
    const [passing, failing] = wanted.map(id => [...outcomes].find(([itemId]) => parseItemId(itemId)?.nodeId === id)?.[1]);
    assert.equal(passing?.state, 'passed', JSON.stringify(passing));
    assert.equal(failing?.state, 'failed', JSON.stringify(failing));
    const at = failing.messages.findIndex(m => /rank 1 owns 5 of 11 cells/.test(m));
    assert.ok(at >= 0, failing.messages.join('\n'));
    const location = failing.locations[at];
    assert.ok(location, 'the failure message has a location');
    assert.equal(location.uri.fsPath, path.join(workspaceUri().fsPath, file));
    assert.equal(location.range.start.line, text.split('\n').findIndex(line => line.includes('assert mine <=')), 'at the failing assert');
  });
});
