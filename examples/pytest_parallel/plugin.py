import pytest


@pytest.fixture
def comm(request):
    from mpi4py import MPI
    wanted = getattr(request, "param", 1)
    if MPI.COMM_WORLD.Get_size() != wanted:
        pytest.skip(f"needs {wanted} ranks, world has {MPI.COMM_WORLD.Get_size()}")
    return MPI.COMM_WORLD
