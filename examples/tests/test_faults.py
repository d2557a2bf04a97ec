"""What distest shows when ranks misbehave: a rank that crashes and a rank that never returns.

Both are real faults, run by "Run All" too: the crash ends its launch at once (distest names the
signal, the rank and the line, and reads the core file with gdb when there is one); the hang is
stopped after the 5 s of its timeout mark, once every rank's stack has been captured: the Problems
panel then shows where each rank waits.
"""
import ctypes

import pytest
from mpi4py import MPI


@pytest.mark.mpi(min_size=2)
def test_rank_1_segfaults():
    comm = MPI.COMM_WORLD
    comm.Barrier()
    if comm.rank == 1:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    comm.Barrier()


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(5)
def test_rank_0_waits_for_a_message_never_sent():
    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        comm.recv(source=1, tag=99)
