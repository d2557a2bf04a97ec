import pytest


def parallel(n_procs):
    counts = n_procs if isinstance(n_procs, (list, tuple)) else [n_procs]
    return pytest.mark.parametrize("comm", counts, indirect=True, ids=[str(c) for c in counts])
