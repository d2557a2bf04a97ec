import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathMapFor } from '../../src/core/transport/paths';
import { makeIgnoreMatcher } from '../../src/core/transport/sync';

test('paths under the workspace root map both ways; others are left alone', () => {
  const map = pathMapFor('/home/me/proj', '/scratch/me/proj/');
  assert.equal(map.toRemote('/home/me/proj/tests/test_a.py'), '/scratch/me/proj/tests/test_a.py');
  assert.equal(map.toRemote('/home/me/proj'), '/scratch/me/proj');
  assert.equal(map.toRemote('/usr/bin/python3'), '/usr/bin/python3');
  assert.equal(map.toRemote('/home/me/project2/x.py'), '/home/me/project2/x.py');
  assert.equal(map.toLocal('/scratch/me/proj/tests/it\'s "x".py'), '/home/me/proj/tests/it\'s "x".py');
  assert.equal(map.toLocal('/usr/lib/python3.11/x.py'), '/usr/lib/python3.11/x.py');
  assert.throws(() => pathMapFor('/a', 'relative/root'), /absolute/);
  const shared = pathMapFor('/a', undefined);
  assert.equal(shared.toRemote('/a/b'), '/a/b');
});

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
