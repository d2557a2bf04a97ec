// Which python the ranks run when it is given by name (`python3`, the default): the one the launching
// host's PATH resolves, on every rank, whatever each launcher would resolve by itself (mpirun started by
// absolute path puts its own bin folder first on the ranks' PATH; srun and ssh use each node's).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseAllocationSpec } from '../../src/core/allocation/spec';
import { resolveAllocation } from '../../src/core/allocation/resolve';
import { DEFAULT_SETTINGS } from '../../src/core/settings';
import { LocalHost } from '../../src/core/transport/local';
import { pythonOnPath } from './pythonOnPath';

const CLI = path.join(path.resolve(__dirname, '../../..'), 'dist/cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-python-'));
const wrapped = pythonOnPath(dir);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: wrapped.project, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })));
}

test('a python given by name is resolved on the launching host; a path is kept as given', async () => {
  const saved = process.env.PATH;
  process.env.PATH = wrapped.path;
  try {
    const ctx = { settings: DEFAULT_SETTINGS, open: () => new LocalHost() };
    const byName = await resolveAllocation(parseAllocationSpec('local'), { ...ctx, python: 'python3' });
    assert.equal(byName.allocation.python, wrapped.python);
    const byPath = await resolveAllocation(parseAllocationSpec('hosts:localhost:2'), { ...ctx, python: '/usr/bin/python3' });
    assert.equal(byPath.allocation.python, '/usr/bin/python3');
    const unknown = await resolveAllocation(parseAllocationSpec('local'), { ...ctx, python: 'no-such-python-xyz' });
    assert.equal(unknown.allocation.python, 'no-such-python-xyz', 'left for the run to report as not found');
  } finally {
    process.env.PATH = saved;
  }
});

for (const allocation of ['local', 'hosts:localhost:2']) {
  test(`--python python3 on ${allocation}: every rank runs the python3 first on the launching host's PATH`, async () => {
    const res = await cli(['run', '--json', '--python', 'python3', '--allocation', allocation], { PATH: wrapped.path });
    const tests = (JSON.parse(res.stdout || '{"tests":[]}') as { tests: { id: string; state: string; messages: { text: string }[] }[] }).tests;
    assert.deepEqual(
      tests.map(t => [t.id, t.state]),
      [['tests/test_which_python.py::test_every_rank_runs_it', 'passed'], ['tests/test_which_python.py::test_serial_runs_it', 'passed']],
      `${tests.flatMap(t => t.messages.map(m => m.text.split('\n')[0])).join('\n')}\n${res.stderr.slice(-2000)}`,
    );
    assert.equal(res.code, 0);
  });
}
