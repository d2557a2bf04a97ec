import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFolder, encodeFolder, type StoredFolder } from '../../src/core/discovery/cacheFile';
import type { TestSpec } from '../../src/core/types';

const range = { line: 3, column: 4, endLine: 3, endColumn: 12 };

function folder(tests: TestSpec[], rel = 'tests/test_a.py'): StoredFolder {
  return {
    key: 'k',
    facts: { texts: new Map([['/p/conftest.py', 'hash=']]), holds: new Map([['/p\0conftest.py', true]]), files: new Map([['/p/x.py', false]]) },
    entries: [
      { rel, hash: 'h1', stamp: { size: 120, mtimeMs: 1796495019065.387, ctimeMs: 1796495019066.5, ino: 2 ** 40 + 3 }, discovery: { file: rel, tests, diagnostics: [] } },
      { rel: 'tests/test_b.py', hash: 'h2', stamp: undefined, discovery: { file: 'tests/test_b.py', tests: [], diagnostics: [{ file: 'tests/test_b.py', range, severity: 'error', message: 'bad', code: 'syntax-error' }] } },
    ],
  };
}

test('a cache file gives back every kind of test as it was written', () => {
  const rel = 'tests/test_a.py';
  const tests: TestSpec[] = [
    { id: `${rel}::test_plain`, label: 'test_plain', file: rel, range, framework: 'pytest', ranks: 1 },
    { id: `${rel}::TestX::test_y[2-False]`, groupId: `${rel}::TestX::test_y`, label: 'test_y[2-False]', file: rel, range, framework: 'pytest_parallel', ranks: 2, className: 'TestX' },
    { id: `${rel}::test_dyn`, label: 'shown otherwise', file: 'other/file.py', range, framework: 'pytest-mpi', ranks: null, dynamic: 'ranks from N', invalid: 'x', timeoutSeconds: 2.5, testRoot: 'sub' },
    { id: `${rel}::test_launch`, label: 'test_launch', file: rel, range, framework: 'unittest', ranks: 0, launcher: { glob: '*.py', launcher: 'dragon {file}', ranks: 0, batch: false } },
    // Not plain: a fractional rank count and a negative column are kept whole.
    { id: `${rel}::test_odd`, label: 'test_odd', file: rel, range: { ...range, column: -1 }, framework: 'pytest', ranks: 1.5 },
    // Non-ASCII and a lone surrogate (a file name that is not UTF-8 never gets here, but an id could).
    { id: `${rel}::test_ünï[é]`, label: 'test_ünï[é]', file: rel, range, framework: 'pytest', ranks: 1 },
  ];
  for (const sample of [tests.slice(0, 5), tests, [...tests, { ...tests[0], id: `${rel}::test_\ud800` , label: 'test_\ud800' }]]) {
    const stored = folder(sample);
    const read = decodeFolder(encodeFolder(stored), 'k');
    assert.deepEqual(read, stored);
  }
});

test('a cache file of another key is not read; a damaged one throws', () => {
  const bytes = encodeFolder(folder([]));
  assert.equal(decodeFolder(bytes, 'other'), undefined);
  for (let cut = 0; cut < bytes.length; cut += 7) assert.throws(() => decodeFolder(bytes.subarray(0, cut), 'k'));
  assert.throws(() => decodeFolder(Buffer.concat([bytes, Buffer.from([1])]), 'k'));
});
