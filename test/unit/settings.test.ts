import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, defaultSettings, discoverySettings, readFolderSettings, readSettings, SETTINGS, settingsFromObject, stripJsonc } from '../../src/core/settings';
import { readServerSettings } from '../../src/protocol';

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
    "distest.local.maxRanksPerSlot": 0,
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
  assert.equal(settings.local.maxRanksPerSlot, 0);
  assert.deepEqual(settings.launchers, [{ glob: 'tests/multi_node/**', launcher: 'mpiexec -n {ranks} {python} {file}', ranks: 2 }]);
});

test('bad values are reported and the defaults kept', () => {
  const { settings, problems } = settingsFromObject(
    {
      'distest.mpiDefaultRanks': 0, 'distest.pythonPath': 3, 'distest.launchers': [{ glob: 'x' }, { glob: 'a/**', launcher: 'dragon {file}' }],
      'distest.local.maxRanksPerSlot': -1,
    },
    '/p',
  );
  assert.equal(settings.mpiDefaultRanks, DEFAULT_SETTINGS.mpiDefaultRanks);
  assert.equal(settings.local.maxRanksPerSlot, 4);
  assert.ok(problems.some(p => /distest.local.maxRanksPerSlot should be a whole number ≥ 0 \(0: no limit\), got -1/.test(p)));
  assert.equal(settings.pythonPath, '');
  assert.deepEqual(settings.launchers, [{ glob: 'a/**', launcher: 'dragon {file}' }]);
  assert.equal(problems.length, 4);
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

test('allocation settings: hosts as names or {name, slots}, login hosts, remote roots, scheduler defaults; bad entries named', () => {
  const { settings, problems } = settingsFromObject({
    'distest.hosts': ['node1', { name: 'node2', slots: 8 }, 'bad host;rm', { name: 'node3', slots: 0 }],
    'distest.loginHosts': ['login1', 42],
    'distest.remoteRoots': { login1: '/scratch/me/proj', login2: 'relative/path' },
    'distest.syncBeforeRun': true,
    'distest.slurm.nodes': 4,
    'distest.slurm.partition': 'debug',
    'distest.pbs.walltime': '1 hour',
  }, '/ws');
  assert.deepEqual(settings.hosts, [{ name: 'node1' }, { name: 'node2', slots: 8 }]);
  assert.deepEqual(settings.loginHosts, ['login1']);
  assert.deepEqual(settings.remoteRoots, { login1: '/scratch/me/proj' });
  assert.equal(settings.syncBeforeRun, true);
  assert.equal(settings.slurm.nodes, 4);
  assert.equal(settings.slurm.partition, 'debug');
  assert.equal(settings.pbs.walltime, DEFAULT_SETTINGS.pbs.walltime);
  assert.equal(problems.length, 5, problems.join('\n'));
  assert.ok(problems.some(p => p.startsWith('distest.hosts[2]')) && problems.some(p => p.startsWith('distest.hosts[3]')));
  assert.ok(problems.some(p => p.startsWith('distest.loginHosts[1]')) && problems.some(p => p.startsWith('distest.remoteRoots["login2"]')));
  assert.ok(problems.some(p => p.startsWith('distest.pbs.walltime should be HH:MM:SS')));
  assert.deepEqual(DEFAULT_SETTINGS.hosts, [], 'defaults untouched');
});

test('every setting package.json contributes is read here, with the same default and type, and nothing else', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { type: unknown; default: unknown }> } };
  };
  const contributed = pkg.contributes.configuration.properties;
  const read = new Map(SETTINGS.map(s => [`distest.${s.key}`, s]));
  assert.deepEqual([...read.keys()].sort(), Object.keys(contributed).sort());
  for (const [key, schema] of Object.entries(contributed)) {
    const setting = read.get(key);
    assert.deepEqual(setting?.default, schema.default, `${key}: default`);
    assert.deepEqual(setting?.type, schema.type, `${key}: type`);
  }
});

test('the reader takes any source: the editor hands it VS Code configuration lookups by key', () => {
  const values: Record<string, unknown> = { 'logs.keepRuns': 3, 'local.slots': 6, timeoutSeconds: -1 };
  const { settings, problems } = readSettings(key => values[key], '/ws');
  assert.equal(settings.logs.keepRuns, 3);
  assert.equal(settings.local.slots, 6);
  assert.equal(settings.timeoutSeconds, DEFAULT_SETTINGS.timeoutSeconds);
  assert.deepEqual(problems, ['distest.timeoutSeconds should be a number ≥ 0 (0: no timeout), got -1; using the default']);
});

test('the exact discovery pass reaches the language server only from a trusted folder with it on, and only when the client says so', () => {
  const settings = defaultSettings();
  assert.equal(discoverySettings(settings, true).exactPython, 'python3');
  assert.equal(discoverySettings({ ...settings, pythonPath: '/usr/bin/python3' }, true).exactPython, '/usr/bin/python3');
  assert.equal(discoverySettings(settings, false).exactPython, undefined);
  assert.equal(discoverySettings({ ...settings, discoveryExact: false }, true).exactPython, undefined);
  // The server reads what the client sent: nothing means off, whatever the defaults.
  assert.equal(readServerSettings({ launchers: [], mpiDefaultRanks: 2 }).settings.discovery.exactPython, undefined);
  assert.equal(readServerSettings({ discovery: { launchers: [], mpiDefaultRanks: 2, exactPython: '/opt/py' } }).settings.discovery.exactPython, '/opt/py');
});
