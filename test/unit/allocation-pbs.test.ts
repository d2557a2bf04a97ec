import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SchedulerError } from '../../src/core/allocation/scheduler';
import { parseQstatJson, walltimeSeconds } from '../../src/core/allocation/pbs';

// PBS is not installable here: this output is WRITTEN FROM THE DOCUMENTED FORMAT of `qstat -f -F json`
// (PBS Professional reference guide, qstat), not recorded from a real server.
const DOCUMENTED_QSTAT = fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/documented/pbs-2022.1-qstat-f-F-json.json'), 'utf8');

test('qstat -f -F json (documented format): jobs with owner, state, node and cpu counts, walltimes', () => {
  assert.deepEqual(parseQstatJson(DOCUMENTED_QSTAT), [
    { jobId: '1234.pbs01', name: 'distest-abc', state: 'R', owner: 'alice', queue: 'debug', nodes: 2, ncpus: 8, execHosts: ['x1000c0s0b0n0', 'x1000c0s0b0n1'], walltime: '01:00:00', walltimeUsed: '00:10:30' },
    { jobId: '1235.pbs01', name: 'other', state: 'Q', owner: 'bob', queue: 'workq', nodes: 1, ncpus: 1, execHosts: [] },
  ]);
  // qstat leaves "Jobs" out when the queue is empty (documented format).
  assert.deepEqual(parseQstatJson('{"timestamp": 1, "pbs_version": "2022.1.1", "pbs_server": "pbs01"}'), []);
});

test('walltime HH:MM:SS, hours past 24 allowed', () => {
  assert.equal(walltimeSeconds('01:00:00'), 3600);
  assert.equal(walltimeSeconds('48:00:05'), 172805);
  assert.equal(walltimeSeconds('1 hour'), null);
});

test('garbage qstat output is a SchedulerError naming the command', () => {
  for (const [text, message] of [
    ['qstat: command not found', /^qstat -f -F json: printed output that is not JSON/],
    ['[1, 2]', /^qstat -f -F json: printed JSON that is not an object/],
    ['{"Jobs": {"1.s": {"Job_Name": "x"}}}', /^qstat -f -F json: printed job 1.s without a job_state/],
  ] as const) {
    assert.throws(() => parseQstatJson(text), (err: unknown) => err instanceof SchedulerError && message.test(err.message));
  }
});

test('nonsense node and cpu counts in qstat output are SchedulerErrors naming the command and the value', () => {
  const doc = JSON.parse(DOCUMENTED_QSTAT) as { Jobs: Record<string, { Resource_List: Record<string, unknown> }> };
  const mutated = (resources: Record<string, unknown>) => {
    const job = doc.Jobs['1234.pbs01'];
    return JSON.stringify({ ...doc, Jobs: { ...doc.Jobs, '1234.pbs01': { ...job, Resource_List: { ...job.Resource_List, ...resources } } } });
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ nodect: -1 }, /^qstat -f -F json: printed job 1234\.pbs01's Resource_List\.nodect as -1, not a count$/],
    [{ ncpus: 'eight' }, /printed job 1234\.pbs01's Resource_List\.ncpus as "eight", not a count/],
    [{ nodect: 1.5 }, /Resource_List\.nodect as 1\.5, not a count/],
    [{ nodect: 0 }, /^qstat -f -F json: printed running job 1234\.pbs01 with nodect 0 and ncpus 8; a running job has at least one node and a CPU on each$/],
    [{ ncpus: undefined }, /printed running job 1234\.pbs01 with nodect 2 and ncpus 0/],
  ];
  for (const [resources, message] of cases) {
    assert.throws(() => parseQstatJson(mutated(resources)), (err: unknown) => err instanceof SchedulerError && message.test(err.message), JSON.stringify(resources));
  }
  // Counts written as digits are read; a queued job may lack them.
  assert.deepEqual(parseQstatJson(mutated({ nodect: '2', ncpus: '8' }))[0].nodes, 2);
});

test('an exec_host that names no plain node is a SchedulerError naming the command and the name', () => {
  const doc = JSON.parse(DOCUMENTED_QSTAT) as { Jobs: Record<string, { exec_host: string }> };
  const withHosts = (execHost: string) => JSON.stringify({ ...doc, Jobs: { ...doc.Jobs, '1234.pbs01': { ...doc.Jobs['1234.pbs01'], exec_host: execHost } } });
  for (const bad of ['x1000$(touch PWNED)/0*4', '-oProxyCommand=x/0*4', 'n1 n2/0*4']) {
    assert.throws(() => parseQstatJson(withHosts(bad)), (err: unknown) => err instanceof SchedulerError && /^qstat -f -F json: printed job 1234\.pbs01's exec_host with ".+", which is not a node name$/.test(err.message), bad);
  }
  assert.deepEqual(parseQstatJson(withHosts('n1/0*4+n2/0*4+n1/1*4'))[0].execHosts, ['n1', 'n2']);
});
