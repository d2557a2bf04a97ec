"""Markers distest cannot run: they show as errored items and as problems at the marker."""
import pytest_parallel


@pytest_parallel.mark.parallel(0)
def test_zero_ranks(comm):
    assert comm.size > 0
