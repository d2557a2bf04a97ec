// 128 generated hostile or malformed inputs: file names, parametrize ids and markers through the real
// CLI's list and run, allocation specs and launcher templates through its run (real pytest and mpirun),
// and scheduler outputs (squeue, scontrol show hostnames, qstat) through the parsers the CLI reads them
// with. Each input ends with a clear state, nothing it carries is executed, nothing is left running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseQstatJson } from '../../src/core/allocation/pbs';
import { SchedulerError } from '../../src/core/allocation/scheduler';
import { parseHostnames, parseSqueueFormat, parseSqueueJson, SQUEUE_FORMAT } from '../../src/core/allocation/slurm';
import { processesWithEnv, waitUntilGone } from './procs';

const REPO = path.resolve(__dirname, '../../..');
const CLI = path.join(REPO, 'dist/cli.js');
const RECORDED = path.join(REPO, 'test/fixtures/recorded');
const DOCUMENTED = path.join(REPO, 'test/fixtures/documented');
const PYTHON = '/usr/bin/python3';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-fuzz-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Deterministic choices, so a failure reproduces. */
function generator(seed: number): <T>(items: readonly T[]) => T {
  let state = seed;
  return items => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return items[state % items.length];
  };
}
const pick = generator(20261204);

/**
 * A file of this name anywhere under the scratch folder proves an input was run by a shell (file names
 * cannot hold a `/`, so the commands touch it in their working folder: a project root).
 */
const PWNED = 'PWNED';
const INJECTIONS = [`$(touch ${PWNED})`, `\`touch ${PWNED}\``, `;touch ${PWNED}`, `|touch ${PWNED}`, `&touch ${PWNED}&`, `'$(touch ${PWNED})'`, `"$(touch ${PWNED})"`];

function executed(): string[] {
  return (fs.readdirSync(scratch, { recursive: true }) as string[]).filter(name => path.basename(name) === PWNED);
}
const ODD = [' ', '\t', "'", '"', '\\', '*', '?', '[', ']', '{', '}', '~', '#', '!', '%', '=', '-', 'é', '€', '😀', '\u200b', '(', ')', '<', '>', '$HOME', '${IFS}'];

/** Runs the CLI with a mark every process it starts inherits, and proves none outlives it. */
async function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const mark = randomBytes(8).toString('hex');
  const child = spawn('/bin/sh', ['-c', 'ulimit -Sc 0; exec node "$@"', 'sh', CLI, ...args], {
    cwd, env: { ...process.env, DISTEST_FUZZ_MARK: mark }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', b => (stdout += b));
  child.stderr.on('data', b => (stderr += b));
  const code = await new Promise<number | null>(resolve => child.on('close', resolve));
  assert.deepEqual(await waitUntilGone(() => processesWithEnv('DISTEST_FUZZ_MARK', mark)), [], `nothing of \`distest ${args.join(' ')}\` is left`);
  return { code, stdout, stderr };
}

interface JsonRun { tests: { id: string; state: string; messages: { text: string }[] }[] }

function project(name: string, files: Record<string, string>, settings?: unknown): string {
  const root = path.join(scratch, name);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  if (settings) {
    fs.mkdirSync(path.join(root, '.vscode'), { recursive: true });
    fs.writeFileSync(path.join(root, '.vscode/settings.json'), JSON.stringify(settings));
  }
  return root;
}

function assertEveryTestEnded(run: JsonRun, expected: number, label: string): void {
  assert.equal(run.tests.length, expected, `${label}: one result per test`);
  for (const t of run.tests) {
    assert.ok(['passed', 'failed', 'skipped', 'errored'].includes(t.state), `${label}: ${t.id} ended ${t.state}`);
    if (t.state !== 'passed') assert.ok(t.messages.some(m => m.text.trim().length > 0), `${label}: ${t.id} says why it ${t.state}`);
  }
  assert.deepEqual(executed(), [], `${label}: an input was executed`);
}

let cases = 0;

test('hostile file names (45, 5 of them not UTF-8): listed and run as written, nothing executed', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) {
    const hostile = `${pick(INJECTIONS)}${pick(ODD)}${pick(ODD)}`;
    files[`tests/test_${i}_${hostile}.py`] = `import pytest\n\n\n@pytest.mark.mpi(min_size=${1 + (i % 2)})\ndef test_case():\n    pass\n`;
  }
  const root = project('names', files);
  // Names that are not UTF-8 at all: bytes a JavaScript string cannot hold.
  for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x80, 0x24, 0x28], [0xfe, 0x3b]]) {
    const name = Buffer.concat([Buffer.from(path.join(root, 'tests/test_bytes_')), Buffer.from(bytes), Buffer.from('.py')]);
    fs.writeFileSync(name, 'def test_case():\n    pass\n');
  }
  const listed = await cli(['list', '--json', root], root);
  assert.equal(listed.code, 0, listed.stderr);
  const ids = (JSON.parse(listed.stdout) as { id: string }[]).map(t => t.id);
  assert.equal(ids.length, 45, listed.stderr);
  const run = await cli(['run', '--json', '--python', PYTHON, root], root);
  assertEveryTestEnded(JSON.parse(run.stdout) as JsonRun, 45, 'file names');
  cases += 45;
});

test('hostile parametrize ids (20) and malformed markers (15): each ends with a clear state', async () => {
  const values = Array.from({ length: 20 }, (_, i) => `${pick(INJECTIONS)}${pick(ODD)}${i}`);
  const markers = [
    'parallel("x")', 'parallel(-1)', 'parallel(0)', 'parallel([])', 'parallel(None)', 'parallel(1.5)', 'parallel([2, "a"])', 'parallel(10**9)',
    'parallel(100000)', 'parallel(**{"n": 2})', 'parallel(2, 3)', 'parallel', 'parallel(comm=2)', 'parallel([0])', 'parallel(True)',
  ];
  const malformed = markers.map((m, i) => `@pytest_parallel.mark.${m}\ndef test_marker_${i}(comm):\n    pass\n`).join('\n\n');
  const root = project('ids', {
    'tests/test_ids.py': `import pytest\n\n\n@pytest.mark.parametrize("value", ${JSON.stringify(values)})\ndef test_value(value):\n    assert isinstance(value, str)\n`,
    'tests/test_markers.py': `import pytest\nimport pytest_parallel\n\n\n${malformed}`,
    'pytest_parallel/__init__.py': 'from . import mark\n',
    'pytest_parallel/mark.py': 'import pytest\n\n\ndef parallel(n=None, **kw):\n    return pytest.mark.parallel(n)\n',
  });
  const listed = await cli(['list', '--json', root], root);
  assert.equal(listed.code, 0, listed.stderr);
  const items = JSON.parse(listed.stdout) as { id: string; ranks: number | null; invalid?: string }[];
  assert.equal(items.filter(t => t.id.startsWith('tests/test_ids.py::')).length, 20);
  const run = await cli(['run', '--json', '--python', PYTHON, '--timeout', '60', root], root);
  const parsed = JSON.parse(run.stdout) as JsonRun;
  assertEveryTestEnded(parsed, items.length, 'ids and markers');
  for (const [id, ranks] of [['tests/test_markers.py::test_marker_7[1000000000]', 1e9], ['tests/test_markers.py::test_marker_8[100000]', 1e5]] as const) {
    const huge = parsed.tests.find(t => t.id === id);
    assert.equal(huge?.state, 'errored', `${id} must not launch ${ranks} ranks on this machine: ${JSON.stringify(huge)}`);
    assert.match(huge.messages[0].text, new RegExp(`^needs ${ranks} ranks, more than 4× the \\d+ slots of the local machine`));
  }
  cases += 35;
});

test('malformed allocation specs (10): a usage error naming the problem, nothing executed', async () => {
  const root = project('specs', { 'tests/test_x.py': 'def test_x():\n    pass\n' });
  const specs = [
    `hosts:${INJECTIONS[0]}`, `slurm:${INJECTIONS[2]}`, 'pbs:', 'hosts:', `${INJECTIONS[1]}/local`, 'slurm:-1', 'hosts:n1:-4', 'hosts:n1:0',
    'local/local/local', 'slurm:new:extra',
  ];
  for (const spec of specs) {
    const res = await cli(['run', '--allocation', spec, root], root);
    assert.equal(res.code, 2, `${spec}: ${res.stderr}`);
    assert.match(res.stderr, /--allocation/, spec);
    assert.deepEqual(executed(), [], `${spec} was executed`);
    cases++;
  }
});

test('hostile launcher templates (10): placeholders stay one argument, or the template is refused', async () => {
  const templates = [
    `sh -c 'echo {file}' distest`, `sh -c "exec {python} {file}"`, `{python} {file} ${INJECTIONS[2]}`, `{python} {file}; touch ${PWNED}`,
    `$(touch ${PWNED}) {file}`, `{python} '{file}'`, `{python} {unknown}`, `{python} '{file}`, `env X={file} {python} {file}`, `bash -lc '{python} {file}'`,
  ];
  const files: Record<string, string> = {};
  const launchers = templates.map((launcher, i) => {
    const name = `multi/t${i}/test_${pick(INJECTIONS)}.py`;
    files[name] = 'import unittest\n\n\nclass TestLaunched(unittest.TestCase):\n    def test_ok(self):\n        pass\n';
    return { glob: `multi/t${i}/*.py`, launcher, ranks: 1 };
  });
  const root = project('templates', files, { 'distest.launchers': launchers, 'distest.pythonPath': PYTHON });
  const run = await cli(['run', '--json', '--timeout', '60', root], root);
  assertEveryTestEnded(JSON.parse(run.stdout) as JsonRun, templates.length, 'templates');
  cases += templates.length;
});

/**
 * Feeds each mutation to its parser: it must read jobs or nodes with sane values, or throw a
 * SchedulerError naming `command`.
 */
function parsedOrRefused<T>(command: string, mutations: [string, () => T[]][], sane: (item: T) => boolean): void {
  for (const [label, parse] of mutations) {
    try {
      for (const item of parse()) assert.ok(sane(item), `${label}: ${JSON.stringify(item)}`);
    } catch (err) {
      assert.ok(err instanceof SchedulerError, `${label}: ${String(err)}`);
      assert.equal(err.command, command, `${label}: ${err.message}`);
      assert.ok(err.message.startsWith(`${command}: `), `${label}: ${err.message}`);
    }
    cases++;
  }
  assert.deepEqual(executed(), []);
}

const count = (n: number) => Number.isInteger(n) && n >= 0;

test('garbage squeue output (10): read with sane counts or refused with the command named', () => {
  const json = fs.readFileSync(path.join(RECORDED, 'slurm-22.05-squeue-me.json'), 'utf8');
  const format = fs.readFileSync(path.join(RECORDED, 'slurm-22.05-squeue-me-format.txt'), 'utf8');
  const sane = (job: { nodes: number; cpus: number }) => count(job.nodes) && count(job.cpus);
  parsedOrRefused('squeue --json', [
    ['truncated JSON', () => parseSqueueJson(json.slice(0, json.length / 2))],
    ['binary', () => parseSqueueJson(randomBytes(512).toString('latin1'))],
    ['negative node count', () => parseSqueueJson(json.replace(/"node_count": \d+/, '"node_count": -3'))],
    ['node count as text', () => parseSqueueJson(json.replace(/"node_count": \d+/, '"node_count": "many"'))],
    ['jobs not a list', () => parseSqueueJson(json.replace(/"jobs": \[/, '"jobs": {"x": [').replace(/\]\s*}\s*$/, ']}}'))],
    ['empty', () => parseSqueueJson('')],
  ], sane);
  parsedOrRefused(`squeue -h -o ${SQUEUE_FORMAT}`, [
    ['format: negative cpus', () => parseSqueueFormat(format.replace('|2|4|', '|2|-4|'))],
    ['format: missing fields', () => parseSqueueFormat('8|PENDING\n')],
    ['format: text counts', () => parseSqueueFormat(format.replace('|2|4|', '|two|four|'))],
    ['format: shell in the name', () => parseSqueueFormat(format.replace('distest-waiting', INJECTIONS[0]))],
  ], sane);
});

test('garbage scontrol show hostnames output (8): node names ssh and srun -w can take, or refused with the command named', () => {
  const names = fs.readFileSync(path.join(RECORDED, 'slurm-22.05-scontrol-show-hostnames.txt'), 'utf8');
  // A name no shell splits and no program takes for an option.
  const sane = (name: string) => name.length > 0 && !name.startsWith('-') && !/[\s$`;|&<>(){}[\]'"\\*?!#~=/]/.test(name);
  parsedOrRefused('scontrol show hostnames', [
    ['truncated in a name', () => parseHostnames(names.slice(0, 5))],
    ['binary', () => parseHostnames(randomBytes(256).toString('latin1'))],
    ['empty', () => parseHostnames('')],
    ['CRLF line ends', () => parseHostnames(names.replace(/\n/g, '\r\n'))],
    ['shell in a name', () => parseHostnames(names.replace('dt-node2', `dt-node2${INJECTIONS[0]}`))],
    ['an ssh option for a name', () => parseHostnames(names.replace('dt-node1', `-oProxyCommand=touch ${PWNED}`))],
    ['the unexpanded list', () => parseHostnames('dt-node[1-2]\n')],
    ['a NUL inside a name', () => parseHostnames(names.replace('dt-node1', 'dt-no\0de1'))],
  ], sane);
});

test('garbage qstat output (10): read with sane counts or refused with the command named', () => {
  // Written from the documented format (no PBS server here; see test/fixtures/documented/README.md).
  const json = fs.readFileSync(path.join(DOCUMENTED, 'pbs-2022.1-qstat-f-F-json.json'), 'utf8');
  const sane = (job: { state: string; nodes: number; ncpus: number; execHosts: string[] }) => count(job.nodes) && count(job.ncpus) &&
    (job.state !== 'R' || (job.nodes >= 1 && job.ncpus >= job.nodes)) && job.execHosts.every(h => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(h));
  parsedOrRefused('qstat -f -F json', [
    ['truncated JSON', () => parseQstatJson(json.slice(0, json.length / 2))],
    ['binary', () => parseQstatJson(randomBytes(512).toString('latin1'))],
    ['empty', () => parseQstatJson('')],
    ['negative nodect', () => parseQstatJson(json.replace(/"nodect": 2/, '"nodect": -2'))],
    ['ncpus as text', () => parseQstatJson(json.replace(/"ncpus": 8/, '"ncpus": "eight"'))],
    ['a count past 2^53', () => parseQstatJson(json.replace(/"ncpus": 8/, '"ncpus": 1e300'))],
    ['running on no node', () => parseQstatJson(json.replace(/"nodect": 2/, '"nodect": 0'))],
    ['Jobs a list', () => parseQstatJson(json.replace(/"Jobs": \{/, '"Jobs": [{').replace(/\}\s*$/, ']}'))],
    ['no job_state', () => parseQstatJson(json.replace(/"job_state": "R",/, ''))],
    ['shell in exec_host', () => parseQstatJson(json.replace('x1000c0s0b0n0/0*4', `x1000${INJECTIONS[0]}/0*4`))],
  ], sane);
});

test('every input was fed: 128, of the at least 100 the issue asks', () => {
  // 45 file names + 20 ids + 15 markers + 10 specs + 10 templates + 10 squeue + 8 scontrol + 10 qstat.
  assert.equal(cases, 128);
});
