import time

import pytest
from mpi4py import MPI


@pytest.mark.mpi(min_size=1)
def test_kernel():
    """A kernel whose fixed amount of work (0.8 s) is split across the ranks: try Scale… on it."""
    comm = MPI.COMM_WORLD
    time.sleep(0.8 / comm.size)
    assert comm.allreduce(1, op=MPI.SUM) == comm.size
