"""pytest-mpi style: the test body sees MPI.COMM_WORLD of whatever size the launcher started."""
import pytest
from mpi4py import MPI


@pytest.mark.mpi(min_size=2)
def test_gather_rank_ids():
    comm = MPI.COMM_WORLD
    gathered = comm.gather(comm.rank, root=0)
    if comm.rank == 0:
        assert gathered == list(range(comm.size))
    else:
        assert gathered is None


@pytest.mark.mpi(min_size=2)
def test_broadcast_settings():
    comm = MPI.COMM_WORLD
    settings = {"dt": 0.01, "steps": 100} if comm.rank == 0 else None
    assert comm.bcast(settings, root=0) == {"dt": 0.01, "steps": 100}


@pytest.mark.mpi(min_size=2)
def test_gpu_aware_allreduce():
    pytest.skip("needs a CUDA-aware MPI build")


class TestReductions:
    @pytest.mark.mpi(min_size=2)
    def test_max_residual(self):
        comm = MPI.COMM_WORLD
        residual = 1e-3 / (comm.rank + 1)
        assert comm.allreduce(residual, op=MPI.MAX) == 1e-3

    @pytest.mark.mpi(min_size=2)
    def test_reports_progress(self):
        print(f"rank {MPI.COMM_WORLD.rank}: 100 steps done")
