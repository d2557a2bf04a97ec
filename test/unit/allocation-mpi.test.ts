import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { detectMpi, parseMpiVersion } from '../../src/core/allocation/mpi';
import { LocalHost } from '../../src/core/transport/local';

const recorded = (name: string) => fs.readFileSync(path.join(__dirname, '../../../test/fixtures/recorded', name), 'utf8');

test('OpenMPI 4.1.4: mpirun and mpiexec --version (recorded on Debian 12)', () => {
  assert.deepEqual(parseMpiVersion(recorded('openmpi-4.1.4-mpirun-version.txt')), { flavour: 'openmpi', version: '4.1.4' });
  assert.deepEqual(parseMpiVersion(recorded('openmpi-4.1.4-mpiexec-version.txt')), { flavour: 'openmpi', version: '4.1.4' });
});

test("MPICH 4.0.2: Hydra's build details (recorded from Debian's mpich package)", () => {
  assert.deepEqual(parseMpiVersion(recorded('mpich-4.0.2-mpiexec-version.txt')), { flavour: 'mpich', version: '4.0.2' });
});

test('Intel MPI, from its documented banner', () => {
  const banner = 'Intel(R) MPI Library for Linux* OS, Version 2021.10 Build 20230619 (id: c2e19c2f3e)\nCopyright 2003-2023, Intel Corporation.\n';
  assert.deepEqual(parseMpiVersion(banner), { flavour: 'intel', version: '2021.10' });
});

test('anything else is unknown, with its first line as version', () => {
  assert.deepEqual(parseMpiVersion('\nsome-launcher 1.2\nmore'), { flavour: 'unknown', version: 'some-launcher 1.2' });
});

test('detects the real OpenMPI on this machine', async () => {
  const mpi = await detectMpi(new LocalHost());
  assert.equal(mpi.flavour, 'openmpi');
  assert.match(mpi.version, /^\d+\.\d+/);
  assert.ok(path.isAbsolute(mpi.path));
});

test('a configured path that does not exist is named in the error', async () => {
  await assert.rejects(detectMpi(new LocalHost(), '/nonexistent/mpiexec'), /distest.mpiexecPath is \/nonexistent\/mpiexec, which is not an executable on local/);
});

test('no MPI on PATH says what to install', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(detectMpi(new LocalHost()), /no mpirun or mpiexec found on local; install OpenMPI \(apt install openmpi-bin\) or set distest.mpiexecPath/);
  } finally {
    process.env.PATH = saved;
  }
});
