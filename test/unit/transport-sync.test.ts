import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeIgnoreMatcher } from '../../src/core/transport/sync';

test('gitignore-lite: basenames anywhere, anchored paths, folders only, negation', () => {
  const ignored = makeIgnoreMatcher(['# c', '*.pyc', '/build', 'cache/', 'logs/*.log', '!keep.pyc', '']);
  assert.equal(ignored('a/b/x.pyc', false), true);
  assert.equal(ignored('a/keep.pyc', false), false);
  assert.equal(ignored('build', true), true);
  assert.equal(ignored('src/build', true), false);
  assert.equal(ignored('src/cache', true), true);
  assert.equal(ignored('src/cache', false), false);
  assert.equal(ignored('logs/run.log', false), true);
  assert.equal(ignored('x/logs/run.log', false), false);
  assert.equal(ignored('tests/test_a.py', false), false);
});
