import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { describeFrame } from '../../src/core/faults/stacks';
import { ProjectPaths } from '../../src/core/projectPaths';

test('a remote root: paths the ranks name map onto the local folder and back; others are left alone', () => {
  const paths = new ProjectPaths('/home/me/proj', '/scratch/me/proj/');
  assert.equal(paths.runRoot, '/scratch/me/proj');
  assert.equal(paths.runPath('/home/me/proj/tests/test_a.py'), '/scratch/me/proj/tests/test_a.py');
  assert.equal(paths.runPath('/home/me/proj'), '/scratch/me/proj');
  assert.equal(paths.runPath('/usr/bin/python3'), '/usr/bin/python3');
  assert.equal(paths.runPath('/home/me/project2/x.py'), '/home/me/project2/x.py');
  assert.equal(paths.localPath('/scratch/me/proj/tests/it\'s "x".py'), '/home/me/proj/tests/it\'s "x".py');
  assert.equal(paths.localPath('tests/test_a.py'), '/home/me/proj/tests/test_a.py');
  assert.equal(paths.localPath('/usr/lib/python3.11/x.py'), '/usr/lib/python3.11/x.py');
  assert.equal(paths.workspaceFile('/scratch/me/proj/tests/test_a.py'), 'tests/test_a.py');
  assert.equal(paths.workspaceFile('/home/me/proj/tests/test_a.py'), null, 'a local path is not where the ranks run');
  assert.throws(() => new ProjectPaths('/a', 'relative/root'), /absolute/);
});

test('a shared file system: one root; installed packages and frozen modules are not the workspace', () => {
  const paths = new ProjectPaths('/p');
  assert.equal(paths.localPath('/p/b.py'), '/p/b.py');
  assert.equal(paths.runPath('/p/b.py'), '/p/b.py');
  assert.equal(paths.workspaceFile('/p/tests/a.py'), 'tests/a.py');
  assert.equal(paths.workspaceFile('/p/.venv/lib/python3.11/site-packages/m.py'), null);
  assert.equal(paths.workspaceFile('/usr/lib/python3/dist-packages/_pytest/python.py'), null);
  assert.equal(paths.workspaceFile('<frozen runpy>'), null);
});

test('a stack from a remote root shows the source line of the local file, not a path of the other machine', () => {
  const local = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-paths-'));
  try {
    fs.mkdirSync(path.join(local, 'tests'));
    fs.writeFileSync(path.join(local, 'tests/test_a.py'), 'def test_a():\n    comm.recv(source=1)\n');
    const paths = new ProjectPaths(local, '/scratch/nowhere/on/this/machine');
    const frame = { file: 'tests/test_a.py', line: 2, function: 'test_a' };
    assert.equal(describeFrame(paths, frame), 'test_a() at tests/test_a.py:2: comm.recv(source=1)');
  } finally {
    fs.rmSync(local, { recursive: true, force: true });
  }
});
