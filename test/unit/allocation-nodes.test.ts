// Which machine a rank's pid is acted on: the launching host (a real LocalHost; `uname -n` runs) or a
// node reached through it, named as the allocation spells it.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { AllocationNodes } from '../../src/core/allocation/nodes';
import type { HostsAllocation, LocalAllocation } from '../../src/core/allocation/allocation';
import { LocalHost } from '../../src/core/transport/local';

const login = new LocalHost('login');
const hosts: HostsAllocation = {
  kind: 'hosts', host: login, hosts: [{ name: 'n1', slots: 2 }, { name: 'n2.cluster.example', slots: 2 }], python: '/usr/bin/python3', mpi: null,
};

test('ranks on the launching host are acted on there, others through one relay per node named as the host list has it', async () => {
  const nodes = new AllocationNodes(hosts);
  assert.equal(await nodes.of(os.hostname()), login);
  assert.equal(await nodes.of('localhost'), login);
  assert.equal((await nodes.of('n1.cluster.example')).name, 'n1');
  assert.equal((await nodes.of('n2')).name, 'n2.cluster.example');
  assert.equal(await nodes.of('n1'), await nodes.of('n1.cluster.example'));
  const groups = await nodes.byNode([{ host: 'n1', rank: 0 }, { host: 'n2', rank: 1 }, { host: 'n1.cluster.example', rank: 2 }, { host: os.hostname(), rank: 3 }]);
  assert.deepEqual(groups.map(g => [g.node.name, g.ranks.map(r => r.rank)]), [['n1', [0, 2]], ['n2.cluster.example', [1]], ['login', [3]]]);
});

test('the sweep covers every listed host and every host a rank ran on, but not the launching host', async () => {
  const { nodes, problems } = await new AllocationNodes(hosts).everyNode([os.hostname(), 'n3', 'n1']);
  assert.deepEqual(nodes.map(n => n.name), ['n1', 'n2.cluster.example', 'n3']);
  assert.deepEqual(problems, []);
});

test('a local allocation is the launching host only, whatever the ranks call it', async () => {
  const local: LocalAllocation = { kind: 'local', host: login, slots: 2, oversubscribe: true, python: '/usr/bin/python3', mpi: null };
  const nodes = new AllocationNodes(local);
  assert.equal(await nodes.of('container-7f3a'), login);
  assert.deepEqual((await nodes.everyNode(['container-7f3a'])).nodes, []);
});

test('a host name that could pass for an ssh option is never handed to ssh', async () => {
  const node = await new AllocationNodes(hosts).of('-oProxyCommand=sh');
  const res = await node.exec(['true']);
  assert.equal(res.code, null);
  assert.match(res.stderr, /"-oProxyCommand=sh" is not a host name distest passes to ssh/);
});
