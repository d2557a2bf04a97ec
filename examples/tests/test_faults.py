"""What distest shows when ranks misbehave: a rank that crashes and a rank that never returns.

Both are real faults, run by "Run All" too: the crash ends its launch at once, the hang is stopped by
`distest.timeoutSeconds` (20 s in .vscode/settings.json).
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
def test_rank_0_waits_for_a_message_never_sent():
    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        comm.recv(source=1, tag=99)
