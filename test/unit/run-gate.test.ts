import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LaunchGates } from '../../src/core/run/gate';

test('a gate opens (its file appears) once every launch it waits on has ended, once; dispose removes the folder', async () => {
  const gates = new LaunchGates();
  const gate = gates.create([1, 2]);
  let opened = false;
  void gate.opened.then(() => { opened = true; });
  gates.ended(1);
  await Promise.resolve();
  assert.equal(gate.isOpen, false);
  assert.equal(fs.existsSync(gate.path), false);
  gates.ended(3);
  gates.ended(2);
  await gate.opened;
  assert.ok(opened && gate.isOpen && fs.existsSync(gate.path));
  gates.ended(2);
  const other = gates.create([]);
  assert.ok(other.isOpen, 'a gate waiting on nothing is open at once');
  assert.equal(path.dirname(other.path), path.dirname(gate.path));
  gates.dispose();
  assert.equal(fs.existsSync(path.dirname(gate.path)), false);
});
