// Every run ends, and every error names its cause: collection errors, ranks that cannot start, files
// that are not there, forged records and mpirun's banners, on real mpirun and pytest.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { discoverFolder } from '../../src/core/discovery/folder';
import { localAllocation, type LocalAllocation } from '../../src/core/allocation/allocation';
import { runTests, type RunOptions } from '../../src/core/run/run';
import { LocalHost } from '../../src/core/transport/local';
import type { TestResult, TestSpec } from '../../src/core/types';
import { processesWithEnv, waitUntilGone } from './procs';
import { SETTING_DEFAULTS } from './runDefaults';

const PYTHON = '/usr/bin/python3'; // python3 on PATH may be a build without mpi4py
const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const projects: string[] = [];
after(() => {
  for (const dir of projects) fs.rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-causes-'));
  projects.push(root);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
  return root;
}

let allocation: Promise<LocalAllocation> | undefined;
const alloc = (python = PYTHON) =>
  python === PYTHON ? (allocation ??= localAllocation(new LocalHost(), { python, oversubscribe: true })) : localAllocation(new LocalHost(), { python, oversubscribe: true });

async function discovered(root: string): Promise<TestSpec[]> {
  return (await discoverFolder(root, { launchers: [], mpiDefaultRanks: 2 })).flatMap(f => f.tests);
}

/** Runs every test of the project; proves nothing of the run is left. */
async function runAll(root: string, opts: Partial<RunOptions> & { python?: string } = {}): Promise<{ results: Map<string, TestResult>; notes: string[]; launcher: string[]; launcherOutput: string[] }> {
  const runId = `causes${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
  const notes: string[] = [];
  const launcher: string[] = [];
  /** The launcher's own lines (rank null) as `output` gives them, which is what the rank logs keep. */
  const launcherOutput: string[] = [];
  const results = await runTests(await discovered(root), { ...SETTING_DEFAULTS,
    root, alloc: await alloc(opts.python), runId, timeoutMs: 60_000, ...opts,
    listener: { note: n => notes.push(n), launcher: text => launcher.push(text), output: line => { if (line.rank === null) launcherOutput.push(line.text); } },
  });
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId)), [], 'nothing of the run is left');
  return { results: new Map(results.map(r => [r.id, r])), notes, launcher, launcherOutput };
}

const MPI_TEST = (name: string) => `import pytest\n\n\n@pytest.mark.mpi(min_size=2)\ndef ${name}():\n    pass\n`;

test('a module that fails to import ends its tests errored at its line, once; the other files still run', async () => {
  const root = project({
    'tests/test_import.py': `import no_such_module_for_distest\n${MPI_TEST('test_never_imported')}`,
    'tests/test_syntax.py': `import pytest\n\n\n@pytest.mark.mpi(min_size=2)\ndef test_broken():\n    x = (1,\n\n\ndef test_after():\n    pass\n`,
    'tests/test_skip.py': `import pytest\n\nnp = pytest.importorskip("no_such_numpy_for_distest")\n${MPI_TEST('test_skipped_module')}`,
    'tests/test_fine.py': MPI_TEST('test_fine'),
  });
  const { results, notes } = await runAll(root);
  const imported = results.get('tests/test_import.py::test_never_imported');
  assert.equal(imported?.state, 'errored');
  assert.match(imported.messages[0].text, /error collecting tests\/test_import.py: ModuleNotFoundError: No module named 'no_such_module_for_distest'/);
  assert.deepEqual([imported.messages[0].file, imported.messages[0].line], ['tests/test_import.py', 1]);
  assert.deepEqual(imported.faults?.map(f => [f.kind, f.file, f.line]), [['collection', 'tests/test_import.py', 1], ['collection', 'tests/test_import.py', 1]]);
  const broken = results.get('tests/test_syntax.py::test_broken');
  assert.equal(broken?.state, 'errored');
  assert.match(broken.messages[0].text, /SyntaxError: '\(' was never closed/);
  assert.deepEqual([broken.messages[0].file, broken.messages[0].line], ['tests/test_syntax.py', 6]);
  const skipped = results.get('tests/test_skip.py::test_skipped_module');
  assert.equal(skipped?.state, 'skipped');
  assert.match(skipped.messages[0].text, /could not import 'no_such_numpy_for_distest'/);
  assert.deepEqual([skipped.messages[0].file, skipped.messages[0].line], ['tests/test_skip.py', 3]);
  assert.equal(results.get('tests/test_fine.py::test_fine')?.state, 'passed');
  assert.ok(notes.filter(n => /rerunning/.test(n)).length <= 1, notes.join('\n'));
});

test('discovery marks a file Python cannot parse at the line pytest names; distest list shows its tests as such', async () => {
  const root = project({ 'tests/test_syntax.py': `import pytest\n\n\ndef test_broken():\n    x = (1,\n\n\ndef test_after():\n    pass\n` });
  const [file] = await discoverFolder(root, { launchers: [], mpiDefaultRanks: 2 });
  const collected = spawnText(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'], root);
  const pythonLine = Number(/test_syntax\.py", line (\d+)/.exec(collected)?.[1]);
  assert.ok(pythonLine > 0, collected);
  const syntax = file.diagnostics.find(d => d.code === 'syntax-error');
  assert.equal(syntax?.range.line, pythonLine);
  assert.equal(syntax.severity, 'error');

  const listed = spawnSync(process.execPath, [CLI, 'list', root], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  const ids = file.tests.map(t => t.id);
  assert.ok(ids.includes('tests/test_syntax.py::test_broken'), ids.join('\n'));
  for (const id of ids) assert.match(listed.stdout, new RegExp(`^${id} .* pytest   \\(syntax error at line ${pythonLine}: errors at collection\\)$`, 'm'));
  assert.match(listed.stderr, new RegExp(`^tests/test_syntax\\.py:${pythonLine}: error: `, 'm'));
  const json = spawnSync(process.execPath, [CLI, 'list', '--json', root], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const items = JSON.parse(json.stdout) as { id: string; syntaxErrorLine?: number }[];
  assert.deepEqual(items.map(i => [i.id, i.syntaxErrorLine]).sort(), ids.map(id => [id, pythonLine]).sort());
});

function spawnText(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

test('crashing launches are rerun only while they make progress and at most maxRelaunches times: every test ends errored', async () => {
  const crashes = Array.from({ length: 4 }, (_, i) => `@pytest.mark.mpi(min_size=2)\ndef test_crash_${i}():\n    os.kill(os.getpid(), signal.SIGKILL)\n`).join('\n\n');
  const root = project({ 'tests/test_crashes.py': `import os\nimport signal\n\nimport pytest\n\n\n${crashes}` });
  const { results, notes } = await runAll(root, { cores: { enable: false, maxPerRun: 0, keepRuns: 10 }, maxRelaunches: 2 });
  assert.equal(results.size, 4);
  for (const result of results.values()) assert.equal(result.state, 'errored', result.id);
  assert.equal(notes.filter(n => /rerunning/.test(n)).length, 2, notes.join('\n'));
  // mpirun names the killed rank's signal, or only that it ended the job, depending on which it noticed first.
  assert.match(results.get('tests/test_crashes.py::test_crash_3')?.messages[0].text ?? '', /never reported: it did not get to this test: the launcher (ended the job|says it exited on signal 9)/);
  assert.ok(notes.some(n => /^launch 3 ended early \(.+\); not relaunching its 1 unstarted test: this run already relaunched 2 times$/.test(n)), notes.join('\n'));
});

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A python that hides mpi4py (a package of that name that cannot be imported), as a node without it would. */
function pythonWithoutMpi4py(): string {
  const dir = project({ 'shadow/mpi4py/__init__.py': 'raise ModuleNotFoundError("No module named \'mpi4py\'", name="mpi4py")\n' });
  const wrapper = path.join(dir, 'python-without-mpi4py');
  fs.writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH="${dir}/shadow\${PYTHONPATH:+:$PYTHONPATH}" exec ${PYTHON} "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** A python without site-packages: no pytest, no plugins. */
function pythonWithoutPytest(): string {
  const dir = project({});
  const wrapper = path.join(dir, 'python-without-pytest');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${PYTHON} -S "$@"\n`, { mode: 0o755 });
  return wrapper;
}

test('a rank that cannot start says why in its own words, with its python and host', async () => {
  const root = project({ 'tests/test_mpi.py': `from mpi4py import MPI\n${MPI_TEST('test_needs_mpi4py')}` });
  const noMpi = pythonWithoutMpi4py();
  const { results } = await runAll(root, { python: noMpi });
  const result = results.get('tests/test_mpi.py::test_needs_mpi4py');
  assert.equal(result?.state, 'errored');
  const text = result.messages.map(m => m.text).join('\n');
  assert.match(text, new RegExp(`No module named 'mpi4py' \\(rank \\d on ${os.hostname()}, python ${escapeRegExp(noMpi)}\\)`));
  assert.doesNotMatch(text, /signal 15/);

  const noPytest = pythonWithoutPytest();
  const bare = (await runAll(root, { python: noPytest })).results.get('tests/test_mpi.py::test_needs_mpi4py');
  assert.equal(bare?.state, 'errored');
  assert.match(bare.messages[0].text, new RegExp(`No module named pytest \\(rank \\d on ${os.hostname()}, python ${escapeRegExp(noPytest)}\\)`));
});

test('a test file gone since discovery: its test errors saying so, the others run in a fresh launch', async () => {
  const root = project({ 'tests/test_gone.py': MPI_TEST('test_gone'), 'tests/test_here.py': MPI_TEST('test_here') });
  const specs = await discovered(root);
  fs.rmSync(path.join(root, 'tests/test_gone.py'));
  const runId = `gone${Date.now().toString(16)}`;
  const results = new Map((await runTests(specs, { ...SETTING_DEFAULTS, root, alloc: await alloc(), runId, timeoutMs: 60_000 })).map(r => [r.id, r]));
  const gone = results.get('tests/test_gone.py::test_gone');
  assert.equal(gone?.state, 'errored');
  assert.match(gone.messages.map(m => m.text).join('\n'), /pytest found no tests\/test_gone.py in .*: was it deleted or renamed since the tests were listed\?/);
  assert.equal(results.get('tests/test_here.py::test_here')?.state, 'passed');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId)), []);
});

test('test ids pytest does not collect (renamed since listing, made by a missing plugin) error saying so; the rest of their launch runs', async () => {
  const root = project({ 'tests/test_ids.py': `${MPI_TEST('test_renamed')}\n${MPI_TEST('test_kept')}` });
  const specs = await discovered(root);
  const renamed = specs.find(s => s.id.endsWith('::test_renamed')) as TestSpec;
  const pluginMade = { ...renamed, id: 'tests/test_ids.py::test_kept[nprocs=2]', label: 'test_kept[nprocs=2]' };
  fs.writeFileSync(path.join(root, 'tests/test_ids.py'), `${MPI_TEST('test_renamed_since')}\n${MPI_TEST('test_kept')}`);
  const runId = `ids${Date.now().toString(16)}`;
  const results = new Map((await runTests([...specs, pluginMade], { ...SETTING_DEFAULTS, root, alloc: await alloc(), runId, timeoutMs: 60_000 })).map(r => [r.id, r]));
  for (const id of [renamed.id, pluginMade.id]) {
    assert.equal(results.get(id)?.state, 'errored', id);
    assert.match(results.get(id)?.messages.map(m => m.text).join('\n') ?? '', new RegExp(`collects no test ${id.replace(/[[\]]/g, '\\$&')}: was it renamed or removed`));
  }
  assert.equal(results.get('tests/test_ids.py::test_kept')?.state, 'passed');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_RUN_ID', runId)), []);
});

// A launch gives pytest its tests' files and the agent keeps the tests asked for (DISTEST_SELECT): the
// tests that run must be exactly those pytest runs given the same ids as node id arguments.
const LOGGED = (names: string) => `import os
import pytest

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran.log")


def ran(name):
    with open(LOG, "a") as f:
        f.write(__name__ + "::" + name + "\\n")
${names}`;

test('a launch selects its tests from their files as pytest selects node ids: the same tests run, their neighbours do not, a broken class beside them is not collected', async () => {
  const files = {
    'tests/test_select.py': LOGGED(`

def test_a():
    ran("test_a")


def test_not_asked():
    ran("test_not_asked")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_p(n):
    ran("test_p[%d]" % n)


class TestC:
    def test_m(self):
        ran("TestC::test_m")

    def test_other(self):
        ran("TestC::test_other")


class TestBroken:
    @pytest.mark.parametrize("missing", [1])
    def test_uses_no_missing(self):
        ran("TestBroken::test_uses_no_missing")
`),
    'tests/test_more.py': LOGGED(`

@pytest.mark.mpi(min_size=2)
def test_two():
    ran("test_two")


def test_b():
    ran("test_b")


def test_c():
    ran("test_c")
`),
  };
  const root = project(files);
  const oracle = project(files);
  const asked = ['tests/test_select.py::test_a', 'tests/test_select.py::test_p[1]', 'tests/test_select.py::test_p[3]', 'tests/test_select.py::TestC::test_m', 'tests/test_more.py::test_c'];
  const specs = (await discovered(root)).filter(s => asked.includes(s.id));
  assert.deepEqual(specs.map(s => s.id).sort(), [...asked].sort());
  const runId = `select${Date.now().toString(16)}`;
  const results = await runTests(specs, { ...SETTING_DEFAULTS, root, alloc: await alloc(), runId, timeoutMs: 60_000 });
  assert.deepEqual(results.map(r => [r.id, r.state]).sort(), asked.map(id => [id, 'passed']).sort());
  spawnText(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...asked], oracle);
  const ran = (dir: string) => fs.readFileSync(path.join(dir, 'tests/ran.log'), 'utf8').trim().split('\n').sort();
  assert.deepEqual(ran(root), ran(oracle));
  assert.equal(ran(root).length, asked.length);
});

test('test code cannot forge records: the run id it can read is not the token', async () => {
  const forger = `import base64, json, os\n\n\ndef test_forger():\n    run_id = os.environ["DISTEST_RUN_ID"]\n    assert "DISTEST_TOKEN" not in os.environ\n` +
    `    record = {"kind": "result", "rank": 0, "size": 1, "host": "x", "test": "tests/test_forge.py::test_innocent", "phase": "call", "outcome": "failed", "durationMs": 1, "message": "forged"}\n` +
    `    payload = base64.b64encode(json.dumps(record).encode()).decode()\n    print("@@distest:%s:0:900:0:1:%s" % (run_id, payload), flush=True)\n\n\ndef test_innocent():\n    pass\n`;
  const root = project({ 'tests/test_forge.py': forger });
  const { results } = await runAll(root);
  assert.equal(results.get('tests/test_forge.py::test_forger')?.state, 'passed');
  assert.equal(results.get('tests/test_forge.py::test_innocent')?.state, 'passed', JSON.stringify(results.get('tests/test_forge.py::test_innocent')));
});

test('the CLI shows one launcher line per mpirun banner; the whole banner stays in the rank logs', async () => {
  const root = project({ 'tests/test_exit.py': `import os\n\nimport pytest\n\n\n@pytest.mark.mpi(min_size=2)\ndef test_rank_1_exits():\n    if int(os.environ["OMPI_COMM_WORLD_RANK"]) == 1:\n        os._exit(3)\n` });
  const { launcher, launcherOutput } = await runAll(root);
  assert.ok(launcher.some(l => /^mpirun: rank 1 exited with code 3$/.test(l)), launcher.join('\n'));
  assert.ok(launcher.every(l => !/^-{20,}$/.test(l) && !l.includes('\n')), launcher.join('\n'));
  const banner = launcherOutput.join('\n');
  assert.match(banner, /^Primary job {2}terminated normally, but 1 process returned$/m);
  assert.match(banner, /^the job to be terminated\. The first process to do so was:$/m);
  assert.ok(launcherOutput.filter(l => /^-{20,}$/.test(l)).length >= 2, banner);
  const child = spawn(process.execPath, [CLI, 'run', root, '--python', PYTHON], { env: { ...process.env, DISTEST_DEBUG: '' } });
  let stderr = '';
  child.stderr.on('data', b => (stderr += b));
  child.stdout.resume();
  await new Promise(resolve => child.on('close', resolve));
  assert.match(stderr, /^mpirun: rank 1 exited with code 3$/m);
  assert.doesNotMatch(stderr, /^-{20,}$/m);
  assert.doesNotMatch(stderr, /^the job to be terminated\. The first process to do so was:$/m);
});
