import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAllocationSpec, parseAllocationSpec } from '../../src/core/allocation/spec';
import { slurmTimeSeconds } from '../../src/core/allocation/resolve';

test('every kind round-trips through format', () => {
  for (const text of ['local', 'hosts:node1,node2', 'hosts:node1:4,node2:2', 'login1/hosts:n1', 'slurm:1234', 'slurm:new',
    'login1/slurm:new', 'slurm:99_3', 'slurm:77+1', 'pbs:5678.pbs01', 'pbs:new', 'hpc-login.example.org/pbs:12[].srv']) {
    assert.equal(formatAllocationSpec(parseAllocationSpec(text)), text);
  }
});

test('parsed shapes carry the login host and slots', () => {
  assert.deepEqual(parseAllocationSpec('login1/slurm:new'), { kind: 'slurm', login: 'login1', jobId: 'new' });
  assert.deepEqual(parseAllocationSpec(' hosts:a:2,b '), { kind: 'hosts', hosts: [{ name: 'a', slots: 2 }, { name: 'b' }] });
});

test('bad specs are clear errors, and shell syntax never passes as a host or job id', () => {
  const cases: [string, RegExp][] = [
    ['', /empty allocation/],
    ['cloud:1', /unknown allocation kind "cloud"/],
    ['slurm', /needs a job id or "new"/],
    ['slurm:12;rm -rf ~', /not a Slurm job id/],
    ['pbs:$(id)', /not a PBS job id/],
    ['hosts:', /at least one host/],
    ['hosts:node1:0', /slots must be a whole number/],
    ['hosts:no de', /not HOST or HOST:SLOTS/],
    ['hosts:a:1:2', /not HOST or HOST:SLOTS/],
    ['`x`/slurm:new', /not a valid login host/],
    ['login/local', /takes no login host/],
    ['local:1', /takes no login host and no argument/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseAllocationSpec(text), message, text);
});

test('Slurm times: [[HH:]MM:]SS and D-HH[:MM[:SS]]; words are null', () => {
  assert.equal(slurmTimeSeconds('59'), 59);
  assert.equal(slurmTimeSeconds('4:59'), 299);
  assert.equal(slurmTimeSeconds('1:04:59'), 3899);
  assert.equal(slurmTimeSeconds('2-01'), 2 * 86400 + 3600);
  assert.equal(slurmTimeSeconds('2-01:04:59'), 2 * 86400 + 3899);
  assert.equal(slurmTimeSeconds('UNLIMITED'), null);
  assert.equal(slurmTimeSeconds('INVALID'), null);
});
