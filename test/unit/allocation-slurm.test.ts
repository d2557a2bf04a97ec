import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SchedulerError } from '../../src/core/allocation/scheduler';
import { parseHostnames, parseSallocLine, parseSlurmVersion, parseSqueueFormat, parseSqueueJson } from '../../src/core/allocation/slurm';

// Recorded from the test cluster (Slurm 22.05.8, test/cluster/up.sh): see test/fixtures/recorded/slurm-22.05-*.
const RECORDED = path.resolve(__dirname, '../../../test/fixtures/recorded');
const recorded = (name: string) => fs.readFileSync(path.join(RECORDED, name), 'utf8');

test('squeue --me --json: active jobs only (the recording also lists a cancelled one)', () => {
  const jobs = parseSqueueJson(recorded('slurm-22.05-squeue-me.json'));
  assert.deepEqual(jobs, [
    { jobId: '1', name: 'distest-rec', state: 'RUNNING', nodes: 2, cpus: 4, nodeList: 'dt-node[1-2]', partition: 'debug', account: 'root' },
    { jobId: '3', name: 'distest-pending', state: 'PENDING', nodes: 2, cpus: 4, nodeList: '', partition: 'debug', account: 'root' },
  ]);
});

test('squeue --format lines, a | in the job name kept', () => {
  assert.deepEqual(parseSqueueFormat(recorded('slurm-22.05-squeue-me-format.txt')), [
    { jobId: '8', state: 'PENDING', nodes: 2, cpus: 4, nodeList: '', partition: 'debug', account: 'root', name: 'distest-waiting' },
    { jobId: '7', state: 'RUNNING', nodes: 1, cpus: 2, nodeList: 'dt-node1', partition: 'debug', account: 'root', name: 'distest-odd|name' },
  ]);
  assert.deepEqual(parseSqueueFormat(''), []);
});

test('salloc lines: granted, pending, queued and errors', () => {
  const events = (name: string) => recorded(name).split('\n').filter(Boolean).map(parseSallocLine);
  assert.deepEqual(events('slurm-22.05-salloc-granted.stderr.txt'), [{ kind: 'granted', jobId: '4' }]);
  const pending = events('slurm-22.05-salloc-pending.stderr.txt');
  assert.deepEqual(pending[0], { kind: 'pending', jobId: '3' });
  assert.deepEqual(pending[1], { kind: 'message', text: 'job 3 queued and waiting for resources' });
  assert.deepEqual(events('slurm-22.05-salloc-partition-config.stderr.txt')[0], { kind: 'message', text: 'Requested partition configuration not available now' });
});

test('version line of squeue --version', () => {
  assert.deepEqual(parseSlurmVersion('slurm-wlm 22.05.8\n'), [22, 5]);
  assert.deepEqual(parseSlurmVersion('slurm 23.11.1'), [23, 11]);
});

test('garbage output is a SchedulerError naming the command, never a crash', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseSqueueJson('<html>proxy error</html>'), /^squeue --json: printed output that is not JSON/],
    [() => parseSqueueJson('{"errors": []}'), /^squeue --json: printed JSON without a "jobs" list/],
    [() => parseSqueueJson('{"jobs": [42]}'), /^squeue --json: printed a job entry distest cannot read: 42/],
    [() => parseSqueueFormat('JOBID PARTITION NAME'), /^squeue -h -o .*: printed a line distest cannot read/],
    [() => parseSlurmVersion('command not found'), /^squeue --version: printed no Slurm version/],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (err: unknown) => err instanceof SchedulerError && message.test(err.message));
  }
});

test('squeue --json of Slurm 23.02+ (written from its documented OpenAPI v0.0.39 shape, not recorded): state lists and number objects', () => {
  const doc = {
    jobs: [
      { job_id: 7, name: 'big', job_state: ['RUNNING'], node_count: { set: true, infinite: false, number: 4 }, cpus: { set: true, infinite: false, number: 16 }, nodes: 'n[1-4]', partition: 'batch', account: 'proj' },
      { job_id: 8, name: 'old', job_state: ['COMPLETED'], node_count: { set: true, number: 1 }, cpus: { set: true, number: 1 }, nodes: 'n5', partition: 'batch', account: 'proj' },
      { job_id: 9, name: 'queued', job_state: ['PENDING'], node_count: { set: false, number: 0 }, cpus: { set: true, number: 2 }, nodes: '', partition: 'batch', account: 'proj' },
    ],
  };
  assert.deepEqual(parseSqueueJson(JSON.stringify(doc)), [
    { jobId: '7', name: 'big', state: 'RUNNING', nodes: 4, cpus: 16, nodeList: 'n[1-4]', partition: 'batch', account: 'proj' },
    { jobId: '9', name: 'queued', state: 'PENDING', nodes: 0, cpus: 2, nodeList: '', partition: 'batch', account: 'proj' },
  ]);
});

test('nonsense counts in recorded squeue output are SchedulerErrors naming the command and the value', () => {
  const doc = JSON.parse(recorded('slurm-22.05-squeue-me.json')) as { jobs: Record<string, unknown>[] };
  // Mutations of the recording's running job 1 (node_count 2, cpus 4).
  const mutated = (change: Record<string, unknown>) => JSON.stringify({ ...doc, jobs: doc.jobs.map(j => (j.job_id === 1 ? { ...j, ...change } : j)) });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ node_count: -2 }, /^squeue --json: printed job 1's node_count as -2, not a count$/],
    [{ cpus: 'four' }, /^squeue --json: printed job 1's cpus as "four", not a count$/],
    [{ cpus: 2.5 }, /printed job 1's cpus as 2\.5, not a count/],
    [{ cpus: -4 }, /printed job 1's cpus as -4, not a count/],
    [{ node_count: { set: true, infinite: true, number: 0 } }, /printed job 1's node_count as \{"set":true,"infinite":true,"number":0\}, not a count/],
    [{ cpus: { set: false, number: 0 } }, /^squeue --json: printed RUNNING job 1 with 2 nodes and 0 CPUs; a running job has at least one node and a CPU on each$/],
    [{ node_count: 0 }, /printed RUNNING job 1 with 0 nodes and 4 CPUs/],
    [{ node_count: 3, cpus: 2 }, /printed RUNNING job 1 with 3 nodes and 2 CPUs/],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => parseSqueueJson(mutated(change)), (err: unknown) => err instanceof SchedulerError && message.test(err.message), JSON.stringify(change));
  }
  // A pending job does not know its counts yet: unset is fine there.
  const pending = JSON.stringify({ ...doc, jobs: doc.jobs.map(j => (j.job_id === 3 ? { ...j, cpus: { set: false, number: 0 }, node_count: { set: false } } : j)) });
  assert.deepEqual(parseSqueueJson(pending).map(j => [j.jobId, j.nodes, j.cpus]), [['1', 2, 4], ['3', 0, 0]]);

  const lines = recorded('slurm-22.05-squeue-me-format.txt').split('\n');
  const formatCases: [string, RegExp][] = [
    [lines[1].replace('|1|2|', '|1|-2|'), /^squeue -h -o .*: printed a line distest cannot read: 7\|RUNNING\|1\|-2\|/],
    [lines[1].replace('|1|2|', '|1|x|'), /printed a line distest cannot read: 7\|RUNNING\|1\|x\|/],
    [lines[1].replace('|1|2|', '|0|2|'), /printed RUNNING job 7 with 0 nodes and 2 CPUs/],
  ];
  for (const [line, message] of formatCases) {
    assert.throws(() => parseSqueueFormat(line), (err: unknown) => err instanceof SchedulerError && message.test(err.message), line);
  }
});

test('scontrol show hostnames: node names one a line; what no node can be called is a SchedulerError', () => {
  // Recorded: `scontrol show hostnames 'dt-node[1-2]'`, and `'dt-node[1-2'`, which exits 0 printing "dt-node]".
  assert.deepEqual(parseHostnames(recorded('slurm-22.05-scontrol-show-hostnames.txt')), ['dt-node1', 'dt-node2']);
  const cases: [string, RegExp][] = [
    [recorded('slurm-22.05-scontrol-show-hostnames-unclosed-bracket.txt'), /^scontrol show hostnames: printed "dt-node\]", which is not a node name$/],
    [recorded('slurm-22.05-scontrol-show-hostnames.txt').replace('\n', ' '), /printed "dt-node1 dt-node2", which is not a node name/],
    ['', /printed no node names/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseHostnames(text), (err: unknown) => err instanceof SchedulerError && message.test(err.message), text);
  }
});
