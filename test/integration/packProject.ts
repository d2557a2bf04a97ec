// The packing fixture: a 2-rank and a 1-rank pytest-mpi test whose first tests meet at a file barrier
// (each writes its mark and waits for the other's, which only a launch running alongside can write),
// so a pass proves two launches ran at the same time. PACK_WAIT (s) bounds the wait, PACK_CRASH makes a
// 2-rank test segfault on rank 1, PACK_SLOW keeps the meeting tests running.
import fs from 'node:fs';
import path from 'node:path';

const TEST_FILE = `import os, signal, time
import pytest
from mpi4py import MPI

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = float(os.environ.get("PACK_WAIT", "30"))


def mark(name):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(repr(time.time()))


def meet(mine, theirs):
    mark(mine)
    deadline = time.time() + WAIT
    while not os.path.exists(os.path.join(HERE, theirs)):
        assert time.time() < deadline, theirs + " never appeared: the other launch did not run alongside"
        time.sleep(0.05)
    if os.environ.get("PACK_SLOW"):
        print("meeting done, sleeping", flush=True)
        time.sleep(120)


@pytest.mark.mpi(min_size=2)
def test_two_meets_one():
    if MPI.COMM_WORLD.rank == 0:
        meet("two.started", "one.started")
    MPI.COMM_WORLD.Barrier()


@pytest.mark.mpi(min_size=2)
def test_two_crashes():
    if os.environ.get("PACK_CRASH") and MPI.COMM_WORLD.rank == 1:
        os.kill(os.getpid(), signal.SIGSEGV)
    MPI.COMM_WORLD.Barrier()


@pytest.mark.mpi(min_size=2)
def test_two_after():
    assert MPI.COMM_WORLD.allreduce(1) == 2


@pytest.mark.mpi(min_size=2)
def test_two_fails():
    assert MPI.COMM_WORLD.rank == 0, "rank 1 disagrees"


def test_one_meets_two():
    meet("one.started", "two.started")


def test_one_after():
    assert True
`;

/** A project in a fresh folder under `parent` holding tests/test_pack.py, with these distest settings. */
export function packProject(parent: string, settings: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(parent, 'distest-pack-'));
  fs.mkdirSync(path.join(dir, '.vscode'));
  fs.mkdirSync(path.join(dir, 'tests'));
  fs.writeFileSync(path.join(dir, '.vscode/settings.json'), JSON.stringify({ 'distest.pytestArgs': ['-p', 'no:randomly'], ...settings }));
  fs.writeFileSync(path.join(dir, 'tests/test_pack.py'), TEST_FILE);
  return dir;
}
