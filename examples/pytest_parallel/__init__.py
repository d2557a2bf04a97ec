"""Stand-in for pytest_parallel (see ../README.md): only what the demo tests use."""
from . import mark  # noqa: F401
