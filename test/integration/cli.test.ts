// The built CLI (dist/cli.js) against the fixture project, with real mpirun and pytest.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { processesMentioning, processesWithEnv, waitUntilGone } from './procs';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const FIXTURE = path.join(REPO, 'test/fixtures/mpi-project');
const PYTHON = '/usr/bin/python3'; // python3 on PATH here is a pyenv build without mpi4py

interface CliRun { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }

/**
 * Runs the CLI with a core size limit of 0 (the crash fixture segfaults) and a marker variable that
 * every process of the run inherits, so leftovers can be found.
 */
function cli(args: string[], opts: { env?: Record<string, string>; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<CliRun> {
  const started = Date.now();
  const child = spawn('/bin/sh', ['-c', 'ulimit -Sc 0; exec node "$@"', 'sh', CLI, ...args], {
    cwd: FIXTURE,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => {
    stderr += b;
    opts.onStderr?.(stderr, child);
  });
  return new Promise(resolve => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started })));
}

interface JsonTest { id: string; ranks: number; state: string; durationMs: number; failedRanks: number[]; messages: { rank: number | null; text: string; file: string | null; line: number | null }[] }

function removeCoreFiles(): void {
  for (const dir of [FIXTURE, path.join(FIXTURE, 'tests')]) {
    for (const f of fs.readdirSync(dir)) if (/^core(\.\d+)?$/.test(f)) fs.rmSync(path.join(dir, f));
  }
}

test('list --json: every pytest-collected test, with ranks and framework', async () => {
  const res = await cli(['list', '--json']);
  assert.equal(res.code, 0, res.stderr);
  const items = JSON.parse(res.stdout) as { id: string; file: string; line: number; framework: string; ranks: number | null; dynamic: string | null }[];
  const collected = execFileSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'], { cwd: FIXTURE, encoding: 'utf8' })
    .split('\n')
    .filter(l => l.includes('::'));
  assert.deepEqual(items.map(i => i.id).sort(), collected.sort());
  const byId = new Map(items.map(i => [i.id, i]));
  assert.deepEqual(byId.get('tests/test_parallel.py::test_fails_on_rank_1[3]'), {
    id: 'tests/test_parallel.py::test_fails_on_rank_1[3]', file: 'tests/test_parallel.py', line: 17, framework: 'pytest_parallel', ranks: 3, dynamic: null,
  });
  assert.equal(byId.get('tests/test_mpi_marks.py::TestHalo::test_exchange')?.framework, 'pytest-mpi');
  assert.equal(byId.get('tests/test_parallel.py::test_serial')?.ranks, 1);
  const unittest = byId.get('tests/multi_node/test_launcher_unittest.py::TestWorld::test_size');
  assert.deepEqual([unittest?.framework, unittest?.ranks], ['unittest', 2]);
});

test('run --json: per-test states, failing ranks and locations; crash isolated', async () => {
  const res = await cli(['run', '--json', '--python', PYTHON]);
  removeCoreFiles();
  assert.equal(res.code, 1, res.stderr);
  const tests = new Map((JSON.parse(res.stdout) as { tests: JsonTest[] }).tests.map(t => [t.id, t]));
  const state = (id: string) => tests.get(id)?.state;
  for (const id of [
    'tests/test_parallel.py::test_allreduce[2]', 'tests/test_parallel.py::test_sizes[2]', 'tests/test_parallel.py::test_sizes[3]',
    'tests/test_parallel.py::test_serial', 'tests/test_mpi_marks.py::test_gather', 'tests/test_mpi_marks.py::TestHalo::test_exchange',
    'tests/test_mpi_marks.py::TestHalo::test_prints_per_rank', 'tests/multi_node/test_launcher_unittest.py::TestWorld::test_size',
  ]) {
    assert.equal(state(id), 'passed', `${id}: ${JSON.stringify(tests.get(id))}`);
  }
  assert.equal(state('tests/test_mpi_marks.py::test_skipped_everywhere'), 'skipped');
  assert.equal(state('tests/test_slow.py::test_sleeps_a_minute'), 'skipped');

  const fails = tests.get('tests/test_parallel.py::test_fails_on_rank_1[3]') as JsonTest;
  assert.equal(fails.state, 'failed');
  assert.equal(fails.ranks, 3);
  assert.deepEqual(fails.failedRanks, [1]);
  const rank1 = fails.messages.find(m => m.rank === 1);
  assert.match(rank1?.text ?? '', /rank 1 disagrees/);
  assert.deepEqual([rank1?.file, rank1?.line], ['tests/test_parallel.py', 19]);

  const rankZero = tests.get('tests/multi_node/test_launcher_unittest.py::TestWorld::test_rank_zero_fails') as JsonTest;
  assert.deepEqual([rankZero.state, rankZero.failedRanks], ['failed', [0]]);

  const crash = tests.get('tests/test_crash.py::test_rank_1_segfaults') as JsonTest;
  assert.equal(crash.state, 'errored');
  // Rank 0 is taken down by mpirun after rank 1 died, so it is failed too; the message says who died of what.
  assert.ok(crash.failedRanks.includes(1), JSON.stringify(crash));
  assert.match(crash.messages.find(m => m.rank === 1)?.text ?? '', /rank 1 of 2 .*signal 11 \(Segmentation fault\)/);
  assert.match(res.stderr, /rerunning/);
  assert.equal(tests.size, 15);
});

test('human output: per-rank summary and a final count line; exit codes', async () => {
  const failing = await cli(['run', '--python', PYTHON, 'tests/test_parallel.py::test_fails_on_rank_1[3]', 'tests/test_parallel.py::test_allreduce']);
  assert.equal(failing.code, 1, failing.stderr);
  assert.match(failing.stdout, /✗ tests\/test_parallel.py::test_fails_on_rank_1\[3\]/);
  assert.match(failing.stdout, /rank 1 of 3: .*rank 1 disagrees.* at tests\/test_parallel.py:19/);
  assert.match(failing.stdout, /✓ tests\/test_parallel.py::test_allreduce\[2\]/);
  assert.match(failing.stdout, /1 passed, 1 failed, 0 skipped, 0 errored\n/);
  assert.match(failing.stderr, /\[rank 1\] /);

  const passing = await cli(['run', FIXTURE, 'tests/test_mpi_marks.py::TestHalo', '--python', PYTHON]);
  assert.equal(passing.code, 0, passing.stderr);
  assert.match(passing.stdout, /2 passed, 0 failed, 0 skipped, 0 errored/);
  assert.match(passing.stderr, /\[rank 1\] \.?hello from rank 1/);

  const unknown = await cli(['run', '--python', PYTHON, 'tests/test_nope.py::test_x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no test matches tests\/test_nope.py::test_x/);
  assert.equal((await cli(['run', '--ranks', 'two'])).code, 2);
  assert.equal((await cli(['run', '--bogus'])).code, 2);
  assert.equal((await cli(['frobnicate'])).code, 2);

  const noPython = await cli(['run', '--python', '/nonexistent/python', 'tests/test_parallel.py::test_serial']);
  assert.equal(noPython.code, 1);
  assert.match(noPython.stdout, /python interpreter \/nonexistent\/python not found/);
});

test('--junit writes escaped JUnit XML', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-junit-')), 'out & <report>.xml');
  const res = await cli(['run', '--python', PYTHON, '--junit', out, 'tests/test_parallel.py']);
  assert.equal(res.code, 1, res.stderr);
  const xml = fs.readFileSync(out, 'utf8');
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="distest" tests="7" failures="1" errors="0" skipped="0"/);
  assert.match(xml, /<testcase classname="tests.test_parallel" name="test_fails_on_rank_1\[3\]" file="tests\/test_parallel.py" line="17" time="[\d.]+">\n {6}<failure message="rank 1 of 3: AssertionError: rank 1 disagrees at tests\/test_parallel.py:19">/);
  assert.doesNotMatch(xml.replace(/<\?xml[^>]*\?>/, ''), /<(?!\/?(testsuites|testsuite|testcase|failure|error|skipped)\b)/);
});

test('Ctrl-C cancels the run, exits 130 and leaves no process behind', async () => {
  const mark = randomBytes(8).toString('hex');
  let interrupted = 0;
  let seen = 0;
  const res = await cli(['run', '--python', PYTHON, 'tests/test_slow.py'], {
    env: { DISTEST_FIXTURE_SLOW: '1', DISTEST_TEST_MARK: mark },
    onStderr: (text, child) => {
      if (!interrupted && text.includes('[rank 1] rank 1 sleeping')) {
        seen = processesWithEnv('DISTEST_TEST_MARK', mark).length;
        interrupted = Date.now();
        child.kill('SIGINT');
      }
    },
  });
  assert.ok(interrupted, `the slow test never started:\n${res.stderr}`);
  assert.ok(seen >= 4, `expected the CLI, mpirun and 2 ranks to be running, saw ${seen}`);
  assert.equal(res.code, 130, res.stderr);
  // Not a speed check (bench/ measures): well under the minute the test sleeps, so the cancel ended it.
  assert.ok(Date.now() - interrupted < 30_000, `took ${Date.now() - interrupted} ms to stop`);
  assert.match(res.stdout, /! tests\/test_slow.py::test_sleeps_a_minute.*errored/);
  assert.match(res.stdout, /cancelled/);
  // A process the kill reached may still be exiting when the CLI does (an empty cmdline): gone at once after.
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark)), []);
  assert.deepEqual(processesMentioning(path.join(FIXTURE, 'tests/test_slow.py')), []);
});

test('a CLI killed outright (SIGKILL) mid-run leaves nothing behind: the orphan reaper stops the launch', async () => {
  const mark = randomBytes(8).toString('hex');
  let killed = 0;
  await cli(['run', '--python', PYTHON, 'tests/test_slow.py'], {
    env: { DISTEST_FIXTURE_SLOW: '1', DISTEST_TEST_MARK: mark },
    onStderr: (text, child) => {
      if (!killed && text.includes('[rank 1] rank 1 sleeping')) {
        killed = Date.now();
        child.kill('SIGKILL');
      }
    },
  });
  assert.ok(killed, 'the slow test never started');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark), 15_000), []);
  assert.deepEqual(processesMentioning(path.join(FIXTURE, 'tests/test_slow.py')), []);
});

test('--timeout kills a hanging launch and reports it timed out', async () => {
  const mark = randomBytes(8).toString('hex');
  const res = await cli(['run', '--json', '--timeout', '3', '--python', PYTHON, 'tests/test_slow.py'], {
    env: { DISTEST_FIXTURE_SLOW: '1', DISTEST_TEST_MARK: mark },
  });
  assert.equal(res.code, 1, res.stderr);
  // Not a speed check: well under the minute the test sleeps, so the 3 s timeout ended it.
  assert.ok(res.ms < 45_000, `took ${res.ms} ms`);
  const [slow] = (JSON.parse(res.stdout) as { tests: JsonTest[] }).tests;
  assert.equal(slow.state, 'errored');
  assert.match(slow.messages.map(m => m.text).join('\n'), /timed out after 3 s/);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark), 1000), []);
});

test('file and test names with shell metacharacters run as written; a missing launcher program is named', async () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-cli-'));
  fs.mkdirSync(path.join(project, 'tests', 'multi node'), { recursive: true });
  fs.mkdirSync(path.join(project, '.vscode'));
  fs.writeFileSync(
    path.join(project, '.vscode', 'settings.json'),
    JSON.stringify({ 'distest.launchers': [{ glob: 'tests/multi node/**', launcher: 'no-such-launcher-xyz {file}', ranks: 2 }] }),
  );
  const weird = 'tests/test_a;b $(touch pwned) `x`.py';
  fs.writeFileSync(path.join(project, weird), 'import pytest\n\n@pytest.mark.parametrize("s", ["a;b", "$HOME"])\ndef test_meta(s):\n    assert s\n');
  fs.writeFileSync(path.join(project, 'tests', 'multi node', 'test_u.py'), 'import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        pass\n');
  const res = await cli(['run', project, '--json', '--python', PYTHON]);
  const tests = (JSON.parse(res.stdout) as { tests: JsonTest[] }).tests;
  assert.deepEqual(
    tests.map(t => [t.id, t.state]),
    [
      ['tests/multi node/test_u.py::T::test_x', 'errored'],
      [`${weird}::test_meta[a;b]`, 'passed'],
      [`${weird}::test_meta[$HOME]`, 'passed'],
    ],
    res.stderr,
  );
  assert.match(tests[0].messages.map(m => m.text).join('\n'), /cannot start no-such-launcher-xyz: no such program/);
  assert.equal(fs.existsSync(path.join(project, 'pwned')), false);
  assert.equal(res.code, 1);
});

test('--allocation hosts:localhost:2 runs through mpirun --host; a bad spec is a usage error; allocations lists this machine', async () => {
  const id = 'tests/test_mpi_marks.py::test_gather';
  const res = await cli(['run', id, '--json', '--python', PYTHON, '--allocation', 'hosts:localhost:2']);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /running on hosts:localhost/);
  const [result] = (JSON.parse(res.stdout) as { tests: JsonTest[] }).tests;
  assert.equal(result.state, 'passed', JSON.stringify(result.messages));

  const bad = await cli(['run', id, '--allocation', 'slurm:1;rm -rf ~']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--allocation: "1;rm -rf ~" is not a Slurm job id/);

  const listed = await cli(['allocations', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const choices = JSON.parse(listed.stdout) as { spec?: string; kind: string; label: string }[];
  assert.deepEqual(choices[0], { spec: 'local', kind: 'local', label: 'Local machine', description: `mpirun on this machine, ${os.cpus().length} slots` });
});

test('output arrives whole through a slow pipe: a listing of 4,000 tests parses', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-biglist-'));
  try {
    fs.mkdirSync(path.join(root, 'tests'));
    for (let f = 0; f < 40; f++) {
      const body = Array.from({ length: 100 }, (_, i) => `def test_${i}_with_a_name_long_enough_to_fill_the_pipe():\n    pass\n`).join('\n');
      fs.writeFileSync(path.join(root, `tests/test_${f}.py`), body);
    }
    const child = spawn(process.execPath, [CLI, 'list', '--json', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    // A reader slower than the CLI, like `| jq` on a busy machine: the pipe fills and writes go async.
    child.stdout.on('data', (b: Buffer) => {
      chunks.push(b);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 2);
    });
    const code = await new Promise(resolve => child.on('close', resolve));
    assert.equal(code, 0);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.ok(text.length > 256 * 1024, `${text.length} bytes`);
    assert.equal((JSON.parse(text) as unknown[]).length, 4000);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the CLI runs from V8\'s code cache: written by the first command, reused after, replaced when V8 rejects it; an unusable cache folder only costs the compile', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-v8-'));
  try {
    const v8Dir = path.join(home, 'distest/v8');
    const cacheFile = () => {
      const names = fs.existsSync(v8Dir) ? fs.readdirSync(v8Dir) : [];
      assert.equal(names.length, 1, `one cache file: ${names.join(', ')}`);
      return path.join(v8Dir, names[0]);
    };
    const list = async () => {
      const res = await cli(['list', '--json'], { env: { XDG_CACHE_HOME: home } });
      assert.equal(res.code, 0, res.stderr);
      assert.ok((JSON.parse(res.stdout) as unknown[]).length > 10);
      assert.equal(res.stderr, '');
    };
    await list();
    const written = cacheFile();
    assert.match(path.basename(written), new RegExp(`^cli-[0-9a-f]{16}-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.bin$`));
    const first = fs.statSync(written);
    assert.ok(first.size > 10_000, `${first.size} bytes of compiled code`);
    await list();
    assert.equal(fs.statSync(cacheFile()).mtimeMs, first.mtimeMs, 'accepted by V8, so not written again');
    fs.writeFileSync(written, randomBytes(4096));
    await list();
    assert.ok(fs.statSync(cacheFile()).size > 10_000, 'the garbage V8 rejected was replaced');
    // A cache folder that cannot be made (its parent is a file): the command runs as without a cache.
    const blocked = path.join(home, 'file');
    fs.writeFileSync(blocked, '');
    const res = await cli(['--help'], { env: { XDG_CACHE_HOME: blocked } });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^usage:/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('the distest command (dist/distest, what npm links) starts node without NODE_EXTRA_CA_CERTS and gives it back to what the run starts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest bin '));
  try {
    // As npm installs it: a symlink in a bin folder; this one's path has a space.
    fs.mkdirSync(path.join(dir, 'bin dir'));
    const command = path.join(dir, 'bin dir', 'distest');
    fs.symlinkSync(path.join(REPO, 'dist/distest'), command);
    const project = path.join(dir, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'test_env.py'), [
      'import os', '', '',
      'def test_sees_the_users_certificates():',
      '    assert os.environ.get("NODE_EXTRA_CA_CERTS") == "/nonexistent/certs.pem"',
      '    assert "DISTEST_NODE_EXTRA_CA_CERTS" not in os.environ', '',
    ].join('\n'));
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/certs.pem' };
    // Node warns on stderr when it loads a certificate file that is not there: it must not have tried.
    const direct = execFileSync('/bin/sh', ['-c', 'node "$1" --help 2>&1 >/dev/null', 'sh', CLI], { env, encoding: 'utf8' });
    assert.match(direct, /Ignoring extra certs/, 'node on cli.js itself reads them (what the command avoids)');
    const res = spawnSync(command, ['run', project, '--json', '--python', PYTHON], { env, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.doesNotMatch(res.stderr, /extra certs/);
    assert.deepEqual((JSON.parse(res.stdout) as { tests: { state: string }[] }).tests.map(t => t.state), ['passed']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
