import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { coreNamePattern, parseCorePattern, runCoresFolder, withCoreLimit } from '../../src/core/faults/cores';

test('core_pattern: files (relative, absolute, with specifiers) and pipes', () => {
  assert.deepEqual(parseCorePattern('core', false), { kind: 'file', pattern: 'core', usesPid: false });
  const systemd = parseCorePattern('|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h', false);
  assert.equal(systemd.kind, 'pipe');
  assert.match(systemd.kind === 'pipe' ? systemd.hint : '', /coredumpctl/);
  const apport = parseCorePattern('|/usr/share/apport/apport -p%p -s%s -c%c -d%d -P%P -u%u -g%g -- %E', false);
  assert.match(apport.kind === 'pipe' ? apport.hint : '', /apport/);
});

test('core file names for a pid', () => {
  const name = (pattern: string, usesPid: boolean) => coreNamePattern({ pattern, usesPid }, 263);
  assert.ok(name('core', false).test('core'));
  assert.ok(!name('core', false).test('core.263'));
  assert.ok(name('core', true).test('core.263'));
  assert.ok(name('/var/cores/core.%h.%p', false).test('core.node2.263'));
  assert.ok(!name('/var/cores/core.%h.%p', false).test('core.node2.264'));
  assert.ok(name('core-%e-%p-%t', true).test('core-python3-263-1700000000'), '%p present: no .pid suffix');
});

test('the core limit wrapper keeps argv as argv', () => {
  const argv = withCoreLimit(['/bin/sh', '-c', 'ulimit -Sc; printf "%s|" "$@"', 'x', 'a b', '$(id)', "'q'"]);
  assert.equal(execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' }), "unlimited\na b|$(id)|'q'|");
});

test('a run\'s cores folder: its start to the second, then the run id\'s first 8 characters as a plain name', () => {
  const started = new Date('2026-12-06T02:44:56.123Z');
  assert.equal(runCoresFolder('3f9a0c1d2e3f4a5b', started), '20261206T024456-3f9a0c1d');
  assert.equal(runCoresFolder('../x y$z', started), '20261206T024456-___x_y_z');
});
