// Study runs through the built CLI (dist/cli.js), with real mpirun and pytest: repeat (a test that
// fails or hangs on some launches, decided by a counter file) and scale (an open rank count).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { processesWithEnv, waitUntilGone } from './procs';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const FIXTURE = path.join(REPO, 'test/fixtures/study-project');
const FLAKY = 'tests/test_flaky.py::test_flaky';
const KERNEL = 'tests/test_scaling.py::test_kernel';

interface CliRun { code: number | null; stdout: string; stderr: string }

/**
 * Runs the CLI with a fresh launch counter; every process of it carries a marker to find leftovers.
 * `onStderr` sees the stderr so far as it grows, with the CLI's process.
 */
function cli(args: string[], onStderr?: (stderr: string, child: ChildProcess) => void, mark = randomBytes(6).toString('hex')): Promise<CliRun & { mark: string }> {
  const counter = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-study-')), 'launches');
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: FIXTURE,
    env: { ...process.env, STUDY_COUNTER: counter, DISTEST_TEST_MARK: mark, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => {
    stderr += b;
    onStderr?.(stderr, child);
  });
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr, mark })));
}

test('repeat --count 30: both outcomes, the failing rank and line, a rate inside its interval', async () => {
  const res = await cli(['repeat', FLAKY, '--count', '30', '--json']);
  assert.equal(res.code, 1, res.stderr);
  const s = JSON.parse(res.stdout);
  for (const key of ['id', 'iterations', 'outcomes', 'failureRate', 'ci95', 'firstFailure', 'durationsMs', 'groups']) assert.ok(key in s, `${key} in the JSON`);
  assert.equal(s.id, FLAKY);
  assert.equal(s.iterations, 30);
  assert.deepEqual(s.outcomes, { passed: 20, failed: 10, errored: 0, skipped: 0 });
  assert.equal(s.firstFailure, 3);
  assert.ok(s.ci95[0] < s.failureRate && s.failureRate < s.ci95[1], JSON.stringify(s.ci95));
  assert.ok(s.ci95[0] > 0.15 && s.ci95[1] < 0.55, JSON.stringify(s.ci95));
  assert.deepEqual(s.groups.map((g: { kind: string; ranks: number[]; message: string; file: string; line: number; iterations: number[] }) => [g.kind, g.ranks, g.message, g.file, g.line, g.iterations]), [
    ['failed', [1], 'AssertionError: lost an update', 'tests/test_flaky.py', 26, [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]],
  ]);
  for (const key of ['min', 'median', 'p95', 'max']) assert.equal(typeof s.durationsMs[key], 'number');
  assert.ok(s.durationsMs.min <= s.durationsMs.median && s.durationsMs.median <= s.durationsMs.p95 && s.durationsMs.p95 <= s.durationsMs.max);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', res.mark)), []);
});

test('repeat --until-fail stops at the first failure and prints the summary', async () => {
  const res = await cli(['repeat', FLAKY, '--count', '20', '--until-fail']);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stdout, /3 iterations, until the first failure/);
  assert.match(res.stdout, /passed 2 · failed 1/);
  assert.match(res.stdout, /failed rank 1 ×1: AssertionError: lost an update at tests\/test_flaky.py:26/);
  assert.match(res.stderr, /distest: 3\/20 · 1 failed/);
});

test('repeat of a test that hangs on some launches: grouped as a hang with its stacks, nothing left running', async () => {
  const res = await cli(['repeat', 'tests/test_flaky.py::test_sometimes_hangs', '--count', '3', '--json']);
  assert.equal(res.code, 1, res.stderr);
  const s = JSON.parse(res.stdout);
  assert.deepEqual(s.outcomes, { passed: 2, failed: 0, errored: 1, skipped: 0 });
  assert.deepEqual(s.kinds, { hang: 1, crash: 0 });
  const hang = s.groups.filter((g: { kind: string }) => g.kind === 'hang');
  const recv = hang.find((g: { ranks: number[] }) => g.ranks.join() === '1');
  assert.ok(recv, JSON.stringify(s.groups));
  assert.equal(recv.file, 'tests/test_flaky.py');
  assert.equal(recv.line, 35);
  assert.deepEqual(recv.iterations, [2]);
  const run = s.runs.find((r: { iteration: number }) => r.iteration === 2);
  assert.ok(run.faults.some((f: { kind: string; stack: unknown[] }) => f.kind === 'hang' && f.stack.length > 0), 'the hanging iteration keeps its stacks');
  const frames = run.faults.flatMap((f: { stack: { file: string; line: number }[] }) => f.stack);
  assert.ok(frames.some((fr: { file: string; line: number }) => fr.file === 'tests/test_flaky.py' && fr.line === 35), `the project's frames are named relative to it: ${JSON.stringify(frames)}`);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', res.mark)), []);

  // The stored study charted again: one point per iteration, by outcome; the summary as the run prints it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-repeat-'));
  fs.writeFileSync(path.join(dir, 'study.json'), res.stdout);
  const chart = await cli(['chart', path.join(dir, 'study.json'), '--svg', path.join(dir, 'study.svg')]);
  assert.equal(chart.code, 0, chart.stderr);
  const svg = fs.readFileSync(path.join(dir, 'study.svg'), 'utf8');
  assert.equal(svg.match(/class="point /g)?.length, 3);
  assert.equal(svg.match(/class="point hang"/g)?.length, 1);
  assert.match(chart.stdout, /3 iterations/);
  assert.match(chart.stdout, /passed 2 · failed 0 · errored 1 \(hang 1, crash 0\)/);
});

test('repeat cancelled (SIGINT) during its third launch: the partial study as JSON, nothing left running', async () => {
  let interrupted = false;
  const mark = randomBytes(6).toString('hex');
  const res = await cli(['repeat', FLAKY, '--count', '30', '--json'], (stderr, child) => {
    if (interrupted || !/distest: 2\/30\b/.test(stderr)) return;
    interrupted = true;
    // SIGINT once the next iteration's ranks run, so that cancel has a launch to stop.
    const started = Date.now();
    const poll = setInterval(() => {
      const ranks = processesWithEnv('DISTEST_TEST_MARK', mark).filter(p => /pytest/.test(p.cmdline));
      if (!ranks.length && Date.now() - started < 10_000) return;
      clearInterval(poll);
      child.kill('SIGINT');
    }, 20);
  }, mark);
  assert.ok(interrupted, res.stderr);
  assert.equal(res.code, 130, res.stderr);
  assert.match(res.stderr, /interrupted, stopping the run/);
  const s = JSON.parse(res.stdout);
  assert.equal(s.cancelled, true);
  assert.equal(s.requested, 30);
  assert.ok(s.iterations >= 2 && s.iterations < 30, `iterations ${s.iterations}`);
  assert.equal(s.runs.length, s.iterations);
  assert.equal(s.outcomes.passed + s.outcomes.failed + s.outcomes.errored + s.outcomes.skipped, s.iterations);
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_TEST_MARK', res.mark)), []);
});

test('scale 1,2,4: times, speedup and efficiency consistent; CSV and JSON agree', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-scale-')), 'study.json');
  const svg = path.join(path.dirname(out), 'study.svg');
  const res = await cli(['scale', KERNEL, '--ranks', '1,2,4', '--repeat', '2', '--csv', '--out', out, '--svg', svg]);
  assert.equal(res.code, 0, res.stderr);
  const s = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(s.kind, 'scale');
  assert.deepEqual(s.points.map((p: { ranks: number }) => p.ranks), [1, 2, 4]);
  for (const p of s.points) {
    assert.equal(p.samples.length, 2);
    assert.ok(p.bodyMs.min <= p.bodyMs.median && p.bodyMs.median <= p.bodyMs.max);
    assert.ok(p.overheadMs > 0);
    assert.ok(Math.abs(p.speedup - s.points[0].bodyMs.median / p.bodyMs.median) < 1e-9);
    assert.ok(Math.abs(p.efficiency - p.speedup / p.ranks) < 1e-9);
  }
  // 0.8 s of work split across the ranks: 2 ranks on 2 cores halve it.
  assert.ok(s.points[0].bodyMs.median > 700 && s.points[1].speedup > 1.6, JSON.stringify(s.points.map((p: { bodyMs: unknown }) => p.bodyMs)));
  const lines = res.stdout.trim().split('\n');
  assert.equal(lines[0], 'ranks,median_ms,min_ms,max_ms,overhead_ms,speedup,efficiency,samples,passed');
  lines.slice(1).forEach((line, i) => {
    const [ranks, median, min, max, , speedup, efficiency, samples, passed] = line.split(',').map(Number);
    const p = s.points[i];
    assert.deepEqual([ranks, samples, passed], [p.ranks, 2, 2]);
    assert.ok(Math.abs(median - p.bodyMs.median) < 1e-3 && Math.abs(min - p.bodyMs.min) < 1e-3 && Math.abs(max - p.bodyMs.max) < 1e-3);
    assert.ok(Math.abs(speedup - p.speedup) < 1e-4 && Math.abs(efficiency - p.efficiency) < 1e-4);
  });
  const chart = fs.readFileSync(svg, 'utf8');
  assert.equal(chart.match(/class="point"/g)?.length, 3);
  assert.match(s.notes.join('\n'), /4 ranks oversubscribe the 2 slots|^$/);

  // `distest chart` on the stored study renders the same chart and table as the run did.
  const again = path.join(path.dirname(out), 'again.svg');
  const rendered = await cli(['chart', out, '--svg', again, '--csv']);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.equal(fs.readFileSync(again, 'utf8'), chart);
  assert.equal(rendered.stdout, res.stdout);
});

test('study input errors: unknown id, a fixed rank count, counts beyond the allocation, bad lists', async () => {
  const unknown = await cli(['repeat', 'tests/test_nope.py::x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no test matches tests\/test_nope.py::x/);
  const fixed = await cli(['scale', 'tests/test_scaling.py::test_serial']);
  assert.equal(fixed.code, 2);
  assert.match(fixed.stderr, /has a fixed rank count \(a plain pytest test runs on one rank\)/);
  const beyond = await cli(['scale', KERNEL, '--ranks', '1,64', '--no-oversubscribe']);
  assert.equal(beyond.code, 2);
  assert.match(beyond.stderr, /64 ranks exceed the \d+ slots of local/);
  const bad = await cli(['scale', KERNEL, '--ranks', '1,x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ranks: rank counts are whole numbers/);
  const many = await cli(['repeat', 'tests/test_flaky.py']);
  assert.equal(many.code, 2);
  assert.match(many.stderr, /repeat runs one test; tests\/test_flaky.py matches 2/);

  const both = await cli(['scale', KERNEL, '--json', '--csv']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--json and --csv both print the study: give one of them/);
  const notStudy = await cli(['chart', path.join(FIXTURE, 'README.md'), '--svg', path.join(os.tmpdir(), 'never.svg')]);
  assert.equal(notStudy.code, 2);
  assert.match(notStudy.stderr, /README.md: Unexpected token/);
  const notAStudy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-chart-')), 'other.json');
  fs.writeFileSync(notAStudy, '{"kind": "other"}');
  const other = await cli(['chart', notAStudy]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /other.json is not a study/);
  const noFile = await cli(['chart']);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /chart takes one study file/);

  // A study's iterations are not debugged: --debug is refused, not ignored.
  const debugged = await cli(['repeat', KERNEL, '--debug', '0']);
  assert.equal(debugged.code, 2);
  assert.match(debugged.stderr, /unknown option --debug/);
});
