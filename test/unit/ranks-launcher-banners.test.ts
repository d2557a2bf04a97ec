import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LauncherBanners } from '../../src/core/ranks/launcherBanners';
import { recordedLines } from './recorded';


function condensed(name: string): string[] {
  const banners = new LauncherBanners('mpirun');
  const shown = recordedLines(name).filter(l => l.rank === null).flatMap(l => banners.push(l.text));
  return [...shown, ...banners.end()];
}

test('mpirun banners: one line per event, the failing rank named', () => {
  const usage = condensed('openmpi-startup-no-plugin');
  assert.equal(usage.length, 2, usage.join('\n'));
  assert.equal(usage[0], 'mpirun: Primary job terminated normally, but 1 process returned a non-zero exit code. Per user-direction, the job has been aborted.');
  assert.match(usage[1], /^mpirun: rank [01] exited with code 4$/);
  const crash = condensed('openmpi-crash');
  assert.ok(crash.length >= 1 && crash.length <= 3, crash.join('\n'));
  assert.ok(crash.some(l => /^mpirun: rank 1 on \S+ exited on signal 11 \(Segmentation fault\)$/.test(l)), crash.join('\n'));
});

test('banners: lines outside pass through, a banner cut short is summarised at the end, long ones are bounded', () => {
  const banners = new LauncherBanners('mpiexec');
  assert.deepEqual(banners.push('plain launcher line'), ['plain launcher line']);
  assert.deepEqual(banners.push('-'.repeat(74)), []);
  for (let i = 0; i < 500; i++) assert.deepEqual(banners.push(`word ${i}`), []);
  const [summary] = banners.end();
  assert.ok(summary.startsWith('mpiexec: word 0 word 1'), summary);
  assert.ok(summary.endsWith('… (full text in the rank logs)'), summary);
  assert.ok(summary.length < 320);
  assert.deepEqual(banners.end(), []);
});
