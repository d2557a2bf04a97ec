// distest against the REAL pytest_parallel plugin (not the stand-in of test/fixtures/mpi-project): its
// copy beside the repository (shared/third_party/pytest_parallel, see its SOURCE.md) goes on PYTHONPATH.
// pytest itself is the oracle for the ids; the runs check what the plugin's sequential and static
// schedulers do under distest's launches: its `comm` fixture, sub-communicators, skips and its gathering
// of a failing rank's report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCliJson, type CliJsonRun } from './cliJson';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const PROJECT = path.join(REPO, 'test/fixtures/pytest-parallel-project');
const FILE = 'tests/test_comm.py';
const PYTHON = '/usr/bin/python3';
const CI = process.env.CI === 'true' || process.env.CI === '1';

/** The folder holding the plugin's `pytest_parallel/` package: `shared/third_party/pytest_parallel` beside the repository or a folder above it. */
function findPlugin(): string | null {
  for (let dir = path.dirname(REPO); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'third_party', 'pytest_parallel');
    if (fs.existsSync(path.join(candidate, 'pytest_parallel', 'plugin.py'))) return candidate;
    if (dir === path.dirname(dir)) return null;
  }
}

const PLUGIN = findPlugin();
const missing = PLUGIN ? null : `the real pytest_parallel plugin is not in shared/third_party/pytest_parallel beside ${REPO} or a folder above it`;
// Under CI a missing plugin fails every test below; elsewhere they are skipped with the reason.
const options = { timeout: 180_000, skip: missing && !CI ? missing : false };
const env = () => {
  assert.ok(PLUGIN, missing ?? '');
  return { PYTHONPATH: PLUGIN };
};

interface JsonTest { id: string; ranks: number; state: string; failedRanks: number[]; messages: { rank: number | null; text: string; line: number | null }[] }

function cli(args: string[], extraEnv: Record<string, string>, cwd = PROJECT): Promise<CliJsonRun<JsonTest>> {
  return runCliJson<JsonTest>(args, { cwd, env: extraEnv });
}

const brief = (tests: JsonTest[]) => tests.map(t => [t.id.slice(FILE.length + 2), t.ranks, t.state, t.failedRanks]);

test("the [N] ids distest lists are the ones pytest collects under the real plugin", options, async () => {
  const collected = spawnSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'], { cwd: PROJECT, env: { ...process.env, ...env() }, encoding: 'utf8' });
  assert.equal(collected.status, 0, collected.stdout + collected.stderr);
  const pytestIds = collected.stdout.split('\n').filter(l => l.startsWith(`${FILE}::`));
  const listed = spawnSync(process.execPath, [CLI, 'list', '--json'], { cwd: PROJECT, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  const items = JSON.parse(listed.stdout) as { id: string; ranks: number | null; dynamic: string | null }[];
  // A count only the run knows is listed once, as the function, which selects pytest's `[N]` of it.
  const dynamic = items.filter(i => i.dynamic).map(i => i.id);
  assert.deepEqual(dynamic, [`${FILE}::test_sub_communicator`, `${FILE}::test_more_ranks_than_the_world`, `${FILE}::test_sub_communicator_fails_on_rank_1`]);
  const byPytest = pytestIds.filter(id => !dynamic.some(d => id.startsWith(`${d}[`)));
  assert.deepEqual(items.filter(i => !i.dynamic).map(i => i.id), byPytest);
  assert.deepEqual(items.filter(i => !i.dynamic).map(i => i.ranks), [2, 2, 4, 3, 2, 2, 2, 2, 1]);
});

test('each count runs in a world of its size, where comm is the whole world; a failure on rank 1 is rank 1\'s alone', options, async () => {
  const fixed = ['test_two', 'test_sizes', 'test_fails_on_rank_1', 'test_param', 'test_param_outer', 'test_serial'].map(name => `${FILE}::${name}`);
  const res = await cli(['run', '--json', '--python', PYTHON, ...fixed], env());
  assert.deepEqual(brief(res.tests), [
    ['test_two[2]', 2, 'passed', []],
    ['test_sizes[2]', 2, 'passed', []],
    ['test_sizes[4]', 4, 'passed', []],
    ['test_fails_on_rank_1[3]', 3, 'failed', [1]],
    ['test_param[False-2]', 2, 'passed', []],
    ['test_param[True-2]', 2, 'passed', []],
    ['test_param_outer[2-False]', 2, 'passed', []],
    ['test_param_outer[2-True]', 2, 'passed', []],
    ['test_serial', 1, 'passed', []],
  ], res.stderr.slice(-3000));
  // The plugin gathers every rank's report into rank 0's: distest reports each rank's own.
  const failure = res.tests[3].messages;
  assert.deepEqual(failure.map(m => [m.rank, m.line]), [[1, 29]], JSON.stringify(failure));
  assert.match(failure[0].text, /^rank 1 of 3: AssertionError: rank 1 disagrees at tests\/test_comm\.py:29/);
  assert.equal(res.code, 1);
});

test("the plugin's static scheduler (distest.pytestArgs) runs the same way; its self-launching ones are refused with the reason", options, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-pytest-parallel-'));
  try {
    fs.cpSync(PROJECT, dir, { recursive: true, filter: src => !/__pycache__/.test(src) });
    fs.mkdirSync(path.join(dir, '.vscode'));
    const settings = path.join(dir, '.vscode', 'settings.json');
    fs.writeFileSync(settings, JSON.stringify({ 'distest.pytestArgs': ['--scheduler=static'] }));
    const ids = [`${FILE}::test_sizes`, `${FILE}::test_fails_on_rank_1`];
    const staticRun = await cli(['run', '--json', '--python', PYTHON, ...ids], env(), dir);
    assert.deepEqual(brief(staticRun.tests), [['test_sizes[2]', 2, 'passed', []], ['test_sizes[4]', 4, 'passed', []], ['test_fails_on_rank_1[3]', 3, 'failed', [1]]], staticRun.stderr.slice(-3000));

    fs.writeFileSync(settings, JSON.stringify({ 'distest.pytestArgs': ['--scheduler=dynamic'] }));
    const dynamicRun = await cli(['run', '--json', '--timeout', '60', '--python', PYTHON, ...ids], env(), dir);
    assert.deepEqual(dynamicRun.tests.map(t => t.state), ['errored', 'errored', 'errored'], dynamicRun.stderr.slice(-3000));
    assert.match(dynamicRun.tests[0].messages[0].text, /^pytest_parallel's --scheduler=dynamic \(in distest.pytestArgs\) spawns a scheduling process with MPI_Comm_spawn/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a count only the run knows, in a larger world (--ranks 4): parallel(2) gets a 2-rank comm, ranks 2 and 3 idle; more ranks than the world is skipped by the plugin', options, async () => {
  const res = await cli(['run', '--json', '--python', PYTHON, '--ranks', '4', `${FILE}::test_sub_communicator`, `${FILE}::test_more_ranks_than_the_world`],
    { ...env(), DISTEST_FIXTURE_RANKS: '2', DISTEST_FIXTURE_TOO_MANY: '8' });
  assert.deepEqual(brief(res.tests), [['test_sub_communicator', 4, 'passed', []], ['test_more_ranks_than_the_world', 4, 'skipped', []]],
    `${res.tests.flatMap(t => t.messages.map(m => m.text.split('\n')[0])).join('\n')}\n${res.stderr.slice(-3000)}`);
  // Only world ranks 0 and 1 ran the body, as ranks 0 and 1 of the test's 2-rank communicator.
  const ran = [...res.stderr.matchAll(/^\[rank (\d+)\] .*world rank (\d+) of (\d+) runs as rank (\d+) of (\d+)$/gm)].map(m => m.slice(1).map(Number)).sort();
  assert.deepEqual(ran, [[0, 0, 4, 0, 2], [1, 1, 4, 1, 2]], res.stderr.slice(-3000));
  assert.deepEqual(res.tests[1].messages.map(m => m.text), ['Not enough procs to execute: 8 required but only 4 available']);
  assert.equal(res.code, 0);
});

test("a failure on the sub-communicator's rank 1 (parallel(2) in a world of 4) is rank 1's alone, with its message and line", options, async () => {
  const res = await cli(['run', '--json', '--python', PYTHON, '--ranks', '4', `${FILE}::test_sub_communicator_fails_on_rank_1`], { ...env(), DISTEST_FIXTURE_RANKS: '2' });
  assert.deepEqual(brief(res.tests), [['test_sub_communicator_fails_on_rank_1', 4, 'failed', [1]]], res.stderr.slice(-3000));
  const failure = res.tests[0].messages;
  assert.deepEqual(failure.map(m => [m.rank, m.line]), [[1, 62]], JSON.stringify(failure));
  assert.match(failure[0].text, /^rank 1 of 4: \[2\] AssertionError: sub-communicator rank 1 disagrees at tests\/test_comm\.py:62/);
  assert.equal(res.code, 1);
});

test('distest loads the plugin itself (-p pytest_parallel.plugin) when nothing in the project does: no "fixture \'comm\' not found"', options, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-pytest-parallel-noplugin-'));
  try {
    fs.cpSync(PROJECT, dir, { recursive: true, filter: src => !/__pycache__/.test(src) });
    fs.rmSync(path.join(dir, 'conftest.py'));
    const res = await cli(['run', '--json', '--python', PYTHON, `${FILE}::test_two`, `${FILE}::test_fails_on_rank_1`], env(), dir);
    assert.deepEqual(brief(res.tests), [['test_two[2]', 2, 'passed', []], ['test_fails_on_rank_1[3]', 3, 'failed', [1]]], res.stderr.slice(-3000));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
