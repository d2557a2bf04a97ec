import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { StudyHistory } from '../../src/core/study/history';
import { defaultRankCounts, iterationKind, parseRankList, quantile, repeatProgress, scaleCsv, scaleTable, summarizeRepeat, wilson, type Iteration } from '../../src/core/study/stats';
import { openRanks, scalePlan, StudyError, type RepeatStudy, type ScaleStudy } from '../../src/core/study/study';
import type { TestSpec } from '../../src/core/types';

const close = (a: number, b: number, eps = 1e-4) => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

test('wilson: the textbook values, inside [0, 1] at 0 and n failures', () => {
  const [lo, hi] = wilson(10, 30);
  close(lo, 0.19229);
  close(hi, 0.51222);
  const [lo0, hi0] = wilson(0, 20);
  assert.equal(lo0, 0);
  close(hi0, 0.16113);
  const [loN, hiN] = wilson(20, 20);
  close(loN, 0.83887);
  assert.equal(hiN, 1);
  assert.deepEqual(wilson(0, 0), [0, 1]);
});

test('quantile interpolates between order statistics (numpy default)', () => {
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  close(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95), 9.55);
  assert.equal(quantile([7], 0.95), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

const it = (iteration: number, state: Iteration['state'], extra: Partial<Iteration> = {}): Iteration => {
  const base = { iteration, state, kind: state as Iteration['kind'], durationMs: 100 + iteration, wallMs: 1000 + iteration, messages: [], faults: [], ...extra };
  return { ...base, kind: iterationKind({ state, faults: base.faults }) };
};

test('repeat summary: counts, rate, first failure, groups by rank and message, hang stacks, crash signals', () => {
  const failed = (k: number, rank: number) => it(k, 'failed', { messages: [{ rank, text: `rank ${rank} of 2: AssertionError: lost an update at tests/t.py:9\nassert 0`, file: 'tests/t.py', line: 9 }] });
  const hang = (k: number) => it(k, 'errored', {
    messages: [{ rank: 1, text: 'rank 1 (n1) waits in test_h() at tests/t.py:20: comm.recv(source=0)', file: 'tests/t.py', line: 20 }],
    faults: [
      { kind: 'hang', rank: 0, host: 'n1', stack: [{ file: 'tests/t.py', line: 21, function: 'test_h' }] },
      { kind: 'hang', rank: 1, host: 'n1', stack: [{ file: 'tests/t.py', line: 20, function: 'test_h' }] },
    ],
  });
  const crash = (k: number) => it(k, 'errored', { faults: [{ kind: 'signal', rank: 1, host: 'n1', signal: 'SIGSEGV', file: 'tests/t.py', line: 30, stack: [] }] });
  const runs = [it(1, 'passed'), it(2, 'passed'), failed(3, 1), it(4, 'passed'), hang(5), failed(6, 1), crash(7), failed(8, 0), it(9, 'skipped')];
  const s = summarizeRepeat(runs);
  assert.deepEqual(s.outcomes, { passed: 3, failed: 3, errored: 2, skipped: 1 });
  assert.deepEqual(s.kinds, { hang: 1, crash: 1 });
  assert.equal(s.failureRate, 5 / 8);
  assert.deepEqual(s.ci95, wilson(5, 8));
  assert.equal(s.firstFailure, 3);
  assert.equal(s.durationsMs?.min, 101);
  assert.equal(s.durationsMs?.max, 108);
  const byKey = s.groups.map(g => `${g.kind} [${g.ranks}] ${g.message} ${g.file}:${g.line} ${g.iterations}`);
  assert.deepEqual(byKey, [
    'failed [1] AssertionError: lost an update tests/t.py:9 3,6',
    'hang [0] rank 0 wait in test_h() at tests/t.py:21 tests/t.py:21 5',
    'hang [1] rank 1 wait in test_h() at tests/t.py:20 tests/t.py:20 5',
    'crash [1] SIGSEGV on rank 1 tests/t.py:30 7',
    'failed [0] AssertionError: lost an update tests/t.py:9 8',
  ]);
  assert.equal(repeatProgress(runs.slice(0, 6), 20), '6/20 · 2 failed · 1 hang');
  const relative = summarizeRepeat([it(1, 'errored', { faults: [{ kind: 'hang', rank: 1, host: 'n1', file: 'tests/t.py', line: 20, stack: [{ file: '/abs/tests/t.py', line: 20, function: 'test_h' }] }] })]);
  assert.deepEqual([relative.groups[0].file, relative.groups[0].line, relative.groups[0].message], ['tests/t.py', 20, 'rank 1 wait in test_h() at tests/t.py:20']);
});

test('scale table: medians, overhead beside them, strong speedup/efficiency, weak time ratio', () => {
  const samples = new Map([
    [1, [{ bodyMs: 800, wallMs: 1800, state: 'passed' as const }, { bodyMs: 820, wallMs: 1900, state: 'passed' as const }, { bodyMs: 790, wallMs: 1700, state: 'passed' as const }]],
    [4, [{ bodyMs: 250, wallMs: 1300, state: 'passed' as const }, { bodyMs: 0, wallMs: 900, state: 'failed' as const }]],
    [2, [{ bodyMs: 400, wallMs: 1500, state: 'passed' as const }]],
  ]);
  const strong = scaleTable(samples, false);
  assert.deepEqual(strong.map(p => p.ranks), [1, 2, 4]);
  assert.deepEqual(strong[0].bodyMs, { median: 800, min: 790, max: 820 });
  assert.equal(strong[0].overheadMs, 1000);
  assert.equal(strong[1].speedup, 2);
  assert.equal(strong[1].efficiency, 1);
  assert.equal(strong[2].speedup, 3.2);
  close(strong[2].efficiency!, 0.8);
  const weak = scaleTable(samples, true);
  assert.equal(weak[2].timeRatio, 250 / 800);
  assert.equal(weak[2].speedup, null);
  const csv = scaleCsv(strong, false).trim().split('\n');
  assert.equal(csv[0], 'ranks,median_ms,min_ms,max_ms,overhead_ms,speedup,efficiency,samples,passed');
  assert.equal(csv[3], '4,250,250,250,1050,3.2,0.8,2,1');
});

test('rank lists: defaults up to the slots, parsing refuses what is not a count', () => {
  assert.deepEqual(defaultRankCounts(8), [1, 2, 4, 8]);
  assert.deepEqual(defaultRankCounts(6), [1, 2, 4, 6]);
  assert.deepEqual(defaultRankCounts(8, 2), [2, 4, 8]);
  assert.deepEqual(parseRankList('4, 1,2,2'), [1, 2, 4]);
  for (const bad of ['', '1,,2', '0', '1.5', 'two', '-1']) assert.throws(() => parseRankList(bad), /whole numbers/);
});

const spec = (over: Partial<TestSpec>): TestSpec => ({ id: 't.py::x', label: 'x', file: 't.py', range: { line: 1, column: 0, endLine: 1, endColumn: 1 }, framework: 'pytest-mpi', ranks: 2, ...over });

test('scale plan: open counts, min_size, fixed counts refused, one id per count', () => {
  assert.deepEqual(openRanks(spec({})), { open: true, min: 2 });
  assert.equal(openRanks(spec({ framework: 'pytest_parallel', ranks: 4 })).open, false);
  assert.throws(() => scalePlan([spec({ framework: 'pytest_parallel', ranks: 4 })], undefined), (e: Error) => e instanceof StudyError && /fixed rank count/.test(e.message));
  assert.throws(() => scalePlan([spec({})], [1, 2]), /at least 2 ranks/);
  const group = [1, 2, 4].map(n => spec({ id: `t.py::x[${n}]`, groupId: 't.py::x', framework: 'pytest_parallel', ranks: n }));
  const plan = scalePlan(group, [1, 4]);
  assert.ok('perCount' in plan && [...plan.perCount.keys()].join() === '1,4');
  assert.throws(() => scalePlan(group, [8]), /not 8/);
  assert.throws(() => scalePlan([spec({}), spec({ id: 'other' })], undefined), /one test/);
});

test('history: bounded, newest last, previous study of the same test, failing text trimmed', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-studies-')), 'sub', 'studies.json');
  const history = new StudyHistory(file, 3);
  const study = (id: string, n: number): RepeatStudy => ({
    version: 1, kind: 'repeat', id, startedAt: new Date(2026, 0, n).toISOString(), allocation: 'local', cancelled: false, ranks: 2, requested: 30, untilFail: false,
    ...summarizeRepeat([]), runs: Array.from({ length: 30 }, (_, k) => it(k + 1, 'failed', { messages: [{ rank: 0, text: 'x'.repeat(10_000) }] })),
  });
  const keys = [1, 2, 3, 4].map(n => history.add(study(n === 3 ? 'b' : 'a', n)));
  const list = history.list();
  assert.equal(list.length, 3);
  assert.deepEqual(list.map(e => e.key), keys.slice(1));
  const last = history.get(keys[3]) as RepeatStudy;
  assert.equal(last.runs.filter(r => r.messages.length).length, 20);
  assert.ok(last.runs[0].messages[0].text.length <= 4001);
  assert.equal(history.previous(last, keys[3])?.startedAt, study('a', 2).startedAt);
  history.remove(keys[2]);
  assert.equal(history.list().length, 2);
  fs.writeFileSync(file, 'not json');
  assert.deepEqual(history.list(), []);
});

test('history: "compare with the last study" only matches a scale study of the same mode (weak or strong)', () => {
  const history = new StudyHistory(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distest-studies-')), 'studies.json'));
  const scale = (n: number, weak: boolean): ScaleStudy => ({
    version: 1, kind: 'scale', id: 't.py::k', startedAt: new Date(2026, 0, n).toISOString(), allocation: 'local', cancelled: false, weak, repeat: 1, slots: 2, points: [], notes: [],
  });
  const [strong1, weak2, strong3, weak4] = [scale(1, false), scale(2, true), scale(3, false), scale(4, true)].map(s => history.add(s));
  assert.equal(history.previous(history.get(strong3)!, strong3)?.startedAt, scale(1, false).startedAt);
  assert.equal(history.previous(history.get(weak4)!, weak4)?.startedAt, scale(2, true).startedAt);
  assert.equal(history.previous(history.get(weak2)!, weak2), undefined);
  assert.equal(history.previous(history.get(strong1)!, strong1), undefined);
});
