// Packed launches (distest.parallelLaunches) with real mpirun and pytest: a 2-rank and a 1-rank launch
// run side by side on a 3-slot local allocation. The proof of overlap is a file barrier: each launch's
// first test writes its mark and waits for the other's, which only a concurrent launch can write. Also:
// results stay per test, a crash in one launch errors only its tests (its unstarted ones are relaunched),
// `--jobs 1` is the old one-after-another order, a host list gives each launch its own slots, a cancel
// leaves no process of either launch, and a launch that needs an ending launch's slots starts up ahead of
// its end but runs no test before it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCliJson, type CliJsonRun } from './cliJson';
import { packProject } from './packProject';
import { processesMentioning, processesWithEnv, waitUntilGone } from './procs';

const PYTHON = '/usr/bin/python3';

function project(): string {
  // Three slots: the 2-rank launch and the 1-rank launch fit side by side (this machine has 2 cores).
  return packProject(os.tmpdir(), { 'distest.local.slots': 3 });
}

interface JsonTest { id: string; state: string; failedRanks: number[]; messages: { text: string }[] }
function cli(dir: string, args: string[], env: Record<string, string>, onStderr?: (text: string, kill: () => void) => void): Promise<CliJsonRun<JsonTest>> {
  return runCliJson<JsonTest>(['run', '--json', '--python', PYTHON, ...args], {
    cwd: dir, env: { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', ...env }, ...(onStderr ? { onStderr } : {}),
  });
}

const states = (tests: JsonTest[]) => Object.fromEntries(tests.map(t => [t.id.replace('tests/test_pack.py::', ''), t.state]));

test('a 2-rank and a 1-rank launch run side by side; results stay per test; a crash errors only its own test', { timeout: 180_000 }, async () => {
  const dir = project();
  const res = await cli(dir, [], { PACK_CRASH: '1' });
  assert.deepEqual(states(res.tests), {
    test_two_meets_one: 'passed',
    test_two_crashes: 'errored',
    test_two_after: 'passed',
    test_two_fails: 'failed',
    test_one_meets_two: 'passed',
    test_one_after: 'passed',
  }, res.stderr);
  assert.match(res.stderr, /launch 2 \(\d ranks?: test_\w+[^)]*\) runs beside launch 1 \(\d ranks?: test_\w+/, 'the note names the tests that run at the same time');
  // The barrier passed both ways: each launch's first test saw the other's mark while it waited.
  const times = ['two.started', 'one.started'].map(f => Number(fs.readFileSync(path.join(dir, 'tests', f), 'utf8')));
  assert.ok(Math.abs(times[0] - times[1]) < 30, `marks ${times[0]} and ${times[1]}`);
  const byName = new Map(res.tests.map(t => [t.id.replace('tests/test_pack.py::', ''), t]));
  assert.deepEqual(byName.get('test_two_fails')?.failedRanks, [1]);
  assert.match(byName.get('test_two_crashes')?.messages.map(m => m.text).join('\n') ?? '', /SIGSEGV|signal 11|Segmentation/);
  // The crash reran the 2-rank launch's unstarted tests in a fresh launch; the 1-rank launch never noticed.
  assert.match(res.stderr, /ended early .* rerunning them in a fresh launch/);
  // Durations are recorded for the next run's order.
  const recorded = JSON.parse(fs.readFileSync(path.join(dir, '.distest/durations.json'), 'utf8')) as { tests: Record<string, number> };
  // A meeting whose other mark is already there takes under a millisecond: recorded, rounded to 0.
  assert.equal(typeof recorded.tests['tests/test_pack.py::test_two_meets_one'], 'number', JSON.stringify(recorded));
  assert.equal(recorded.tests['tests/test_pack.py::test_two_crashes'], undefined, 'an errored test has no duration of its own');
});

test('a host list: each launch gets its own share of the hosts\' slots (--host localhost:2 beside --host localhost:1)', { timeout: 120_000 }, async () => {
  const dir = project();
  const res = await cli(dir, ['--allocation', 'hosts:localhost:3', 'tests/test_pack.py::test_two_meets_one', 'tests/test_pack.py::test_one_meets_two'], {});
  assert.deepEqual(states(res.tests), { test_two_meets_one: 'passed', test_one_meets_two: 'passed' }, res.stderr);
  assert.match(res.stderr, /launch 2 \(\d ranks?: test_(one|two)_meets_(two|one)\) on localhost:[12] runs beside launch 1 \(\d ranks?: test_(one|two)_meets_(two|one)\)/);
});

test('--jobs 1 runs the launches one after another: the barrier cannot be met by the first', { timeout: 120_000 }, async () => {
  const dir = project();
  const res = await cli(dir, ['--jobs', '1'], { PACK_WAIT: '2' });
  const got = states(res.tests);
  assert.deepEqual([got.test_two_meets_one, got.test_one_meets_two].sort(), ['failed', 'passed'], res.stderr);
  assert.doesNotMatch(res.stderr, /runs beside/);
});

test('cancel while two launches run: every test errored cancelled, no process of either launch left', { timeout: 120_000 }, async () => {
  const dir = project();
  const mark = randomBytes(8).toString('hex');
  let interrupted = 0;
  let seen = 0;
  const res = await cli(dir, [], { PACK_SLOW: '1', DISTEST_TEST_MARK: mark }, (text, kill) => {
    if (interrupted || (text.match(/meeting done, sleeping/g) ?? []).length < 2) return;
    seen = processesWithEnv('DISTEST_TEST_MARK', mark).length;
    interrupted = Date.now();
    kill();
  });
  assert.ok(interrupted, `both launches never met:\n${res.stderr}`);
  // sh/CLI, mpirun with 2 ranks, the 1-rank python: both launches were alive when the cancel came.
  assert.ok(seen >= 5, `expected the CLI, mpirun, 2 ranks and the 1-rank launch, saw ${seen}`);
  assert.equal(res.code, 130, res.stderr);
  const got = res.tests.filter(t => t.state !== 'errored' || !t.messages.some(m => /cancel/.test(m.text)));
  assert.deepEqual(got.map(t => [t.id, t.state]), [], 'every test errored as cancelled');
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', mark)), []);
  assert.deepEqual(processesMentioning(dir), []);
});

// A 3-rank and a 2-rank launch on 3 slots cannot run side by side. Each test logs when it starts and ends,
// each module when it is imported (collection, before the gate), in one file: the 2-rank ranks must have
// imported their module before the 3-rank launch's last test ended (they started ahead), and no 2-rank test
// may start before every 3-rank test has ended (the slots were never shared). The 2-rank launch waits at its
// gate longer than the 3 s timeout, which must not count.
const TIMED = (ranks: number, tests: number, seconds: number) => `import os, time
import pytest
from mpi4py import MPI

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "times.log")


def log(what):
    with open(LOG, "a") as f:
        f.write("%s %d %d %r\\n" % (what, ${ranks}, MPI.COMM_WORLD.rank, time.time()))


log("import")
${Array.from({ length: tests }, (_, i) => `

@pytest.mark.mpi(min_size=${ranks})
def test_r${ranks}_${i}():
    log("start")
    time.sleep(${seconds})
    log("end")`).join('')}
`;

test('a launch needing an ending launch\'s slots starts up ahead, runs its tests only after it, and its wait is no timeout', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-ahead-'));
  fs.mkdirSync(path.join(dir, '.vscode'));
  fs.writeFileSync(path.join(dir, '.vscode/settings.json'), JSON.stringify({ 'distest.local.slots': 3, 'distest.pytestArgs': ['-p', 'no:randomly'] }));
  fs.writeFileSync(path.join(dir, 'test_three.py'), TIMED(3, 5, 1.5));
  fs.writeFileSync(path.join(dir, 'test_two.py'), TIMED(2, 2, 0.2));
  const gatesBefore = fs.readdirSync(os.tmpdir()).filter(f => f.startsWith('distest-gates-'));
  const res = await cli(dir, ['--timeout', '3'], {});
  assert.deepEqual(res.tests.map(t => t.state), Array(7).fill('passed'), res.stderr);
  assert.match(res.stderr, /launch 2 \(2 ranks: test_r2_0, test_r2_1\) starts up while launch 1 \(3 ranks: test_r3_0, test_r3_1, test_r3_2 and 2 more\) ends, and runs its tests after/);
  const events = fs.readFileSync(path.join(dir, 'times.log'), 'utf8').trim().split('\n').map(line => {
    const [what, ranks, , at] = line.split(' ');
    return { what, ranks: Number(ranks), at: Number(at) };
  });
  const at = (what: string, ranks: number) => events.filter(e => e.what === what && e.ranks === ranks).map(e => e.at);
  const threeEnded = Math.max(...at('end', 3));
  assert.equal(at('end', 3).length, 15, 'every rank of every 3-rank test ended');
  assert.ok(Math.max(...at('import', 2)) < threeEnded, `the 2-rank launch started up ahead: ${JSON.stringify(events)}`);
  assert.ok(Math.min(...at('start', 2)) >= threeEnded, `no 2-rank test started before the 3-rank launch's last ended: ${JSON.stringify(events)}`);
  const gatesAfter = fs.readdirSync(os.tmpdir()).filter(f => f.startsWith('distest-gates-') && !gatesBefore.includes(f));
  assert.deepEqual(gatesAfter, [], 'the run\'s gate folder is removed');
});
