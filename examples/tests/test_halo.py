"""A 1-D domain split across ranks: halo exchange, global sums and the block decomposition."""
import pytest_parallel


def neighbours(comm):
    """Left and right neighbour on a periodic ring of ranks."""
    return (comm.rank - 1) % comm.size, (comm.rank + 1) % comm.size


def exchange_halos(comm, cells):
    """Returns the ghost cells (left, right): the neighbours' edge cells."""
    left, right = neighbours(comm)
    from_left = comm.sendrecv(cells[-1], dest=right, source=left)
    from_right = comm.sendrecv(cells[0], dest=left, source=right)
    return from_left, from_right


def owned_cell_count(n_cells, rank, size):
    # Deliberately wrong so the demo has a test that fails on one rank only: the remainder should be
    # spread over the first ranks, one cell each, but all of it lands on rank 1.
    base, remainder = divmod(n_cells, size)
    return base + (remainder if rank == 1 else 0)


@pytest_parallel.mark.parallel(2)
def test_halo_exchange(comm):
    cells = [10 * comm.rank + i for i in range(4)]
    left, right = neighbours(comm)
    assert exchange_halos(comm, cells) == (10 * left + 3, 10 * right)


@pytest_parallel.mark.parallel([2, 4])
def test_global_sum(comm):
    n_local = 100
    first = comm.rank * n_local
    partial = sum(range(first, first + n_local))
    print(f"rank {comm.rank} of {comm.size}: partial sum {partial}")
    total = comm.allreduce(partial)
    n = comm.size * n_local
    assert total == n * (n - 1) // 2


@pytest_parallel.mark.parallel(3)
def test_decomposition_is_balanced(comm):
    n_cells = 11
    mine = owned_cell_count(n_cells, comm.rank, comm.size)
    assert comm.allreduce(mine) == n_cells
    assert mine <= n_cells // comm.size + 1, f"rank {comm.rank} owns {mine} of {n_cells} cells"
