import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, readFolderSettings, settingsFromObject, stripJsonc } from '../../src/core/settings';

function folderWith(settingsText: string | null): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-settings-'));
  if (settingsText !== null) {
    fs.mkdirSync(path.join(dir, '.vscode'));
    fs.writeFileSync(path.join(dir, '.vscode', 'settings.json'), settingsText);
  }
  return dir;
}

test('no settings file gives the defaults', () => {
  const { settings, problems } = readFolderSettings(folderWith(null));
  assert.deepEqual(settings, DEFAULT_SETTINGS);
  assert.deepEqual(problems, []);
});

test('reads JSON with comments and trailing commas, as VS Code writes it', () => {
  const dir = folderWith(`{
    // the python with mpi4py
    "distest.pythonPath": "\${workspaceFolder}/.venv/bin/python", /* inline */
    "distest.mpiexecPath": "/opt/mpi/bin/mpiexec // not a comment",
    "distest.mpiDefaultRanks": 4,
    "distest.local.oversubscribe": false,
    "distest.launchers": [
      { "glob": "tests/multi_node/**", "launcher": "mpiexec -n {ranks} {python} {file}", "ranks": 2, },
    ],
    "python.defaultInterpreterPath": "ignored",
  }`);
  const { settings, problems } = readFolderSettings(dir);
  assert.deepEqual(problems, []);
  assert.equal(settings.pythonPath, `${dir}/.venv/bin/python`);
  assert.equal(settings.mpiexecPath, '/opt/mpi/bin/mpiexec // not a comment');
  assert.equal(settings.mpiDefaultRanks, 4);
  assert.equal(settings.local.oversubscribe, false);
  assert.deepEqual(settings.launchers, [{ glob: 'tests/multi_node/**', launcher: 'mpiexec -n {ranks} {python} {file}', ranks: 2 }]);
});

test('bad values are reported and the defaults kept', () => {
  const { settings, problems } = settingsFromObject(
    { 'distest.mpiDefaultRanks': 0, 'distest.pythonPath': 3, 'distest.launchers': [{ glob: 'x' }, { glob: 'a/**', launcher: 'dragon {file}' }] },
    '/p',
  );
  assert.equal(settings.mpiDefaultRanks, DEFAULT_SETTINGS.mpiDefaultRanks);
  assert.equal(settings.pythonPath, '');
  assert.deepEqual(settings.launchers, [{ glob: 'a/**', launcher: 'dragon {file}' }]);
  assert.equal(problems.length, 3);
  assert.match(problems[0], /distest.pythonPath should be a string/);
});

test('a broken file is reported with its path, not thrown', () => {
  const dir = folderWith('{ "distest.pythonPath": ');
  const { settings, problems } = readFolderSettings(dir);
  assert.deepEqual(settings, DEFAULT_SETTINGS);
  assert.match(problems[0], /settings\.json: not valid JSON/);
});

test('defaults are not shared between reads', () => {
  const a = readFolderSettings(folderWith(null)).settings;
  a.launchers.push({ glob: '*', launcher: 'x' });
  a.local.oversubscribe = false;
  assert.deepEqual(readFolderSettings(folderWith(null)).settings, DEFAULT_SETTINGS);
});

test('stripJsonc keeps strings with comment-like text and line numbers', () => {
  const out = stripJsonc('{"a": "// x", /* c\n */ "b": [1,],}');
  assert.deepEqual(JSON.parse(out), { a: '// x', b: [1] });
  assert.equal(out.split('\n').length, 2);
});
