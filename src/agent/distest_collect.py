"""pytest plugin (`-p distest_collect`) for distest's exact discovery: `pytest --collect-only` on the files whose
tests static discovery could not know, reporting what pytest itself collected.

Writes one JSON document to $DISTEST_COLLECT_OUT at the end of the session:
    {"items": [{"id", "file", "line", "name", "cls", "comm", "nprocs", "mpi", "min_size", "timeout"}...],
     "errors": [{"id", "file", "line", "message", "skipped"}...]}
Ids and files are relative to $DISTEST_ROOT (the workspace folder), whatever pytest's rootdir is; `line` is 1-based.
Rank markers are reported raw (pytest_parallel's `comm` parameter, mpi-pytest's `parallel` counts, pytest-mpi's
`mpi(min_size)`): distest turns them into rank counts as its static discovery does. Inert without the variable.
"""
import collections.abc
import json
import os

import distest_frames as frames
from distest_pytest import _collection_message, _TRACEBACK_LINE

_OUT = os.environ.get("DISTEST_COLLECT_OUT")
_items = []
_errors = []
_rootpath = None

# mpi-pytest's default process count for a bare `parallel` marker.
_MPI_PYTEST_DEFAULT = 3


def pytest_configure(config):
    global _rootpath
    _rootpath = str(config.rootpath)


def _workspace_id(nodeid):
    return frames.workspace_id(nodeid, _rootpath)


def _counts(marker):
    """mpi-pytest's `parallel` marker counts: parallel, parallel(N), parallel([N, M]), parallel(nprocs=...)."""
    if len(marker.args) == 1 and not marker.kwargs:
        value = marker.args[0]
    elif list(marker.kwargs) == ["nprocs"] and not marker.args:
        value = marker.kwargs["nprocs"]
    elif not marker.args and not marker.kwargs:
        return [_MPI_PYTEST_DEFAULT]
    else:
        return None
    values = list(value) if isinstance(value, collections.abc.Iterable) else [value]
    return values if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else None


def _record(item):
    path, line, _ = item.location
    # The module that collects the item (its id's file), also when its function was made elsewhere: by exec
    # (location `<string>`) or imported from another module (whose lines are no use here).
    file = frames.relative_path(os.path.join(_rootpath, item.nodeid.split("::")[0]))
    if line is None or frames.relative_path(os.path.join(_rootpath, path)) != file:
        line = 0
    record = {"id": _workspace_id(item.nodeid), "file": file, "line": line + 1,
              "name": item.originalname if hasattr(item, "originalname") else item.name}
    cls = getattr(item, "cls", None)
    if cls is not None:
        record["cls"] = "::".join(item.nodeid.split("::")[1:-1])
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("comm"), int):
        record["comm"] = params["comm"]
    parallel = item.get_closest_marker("parallel")
    if parallel is not None:
        if isinstance(params.get("_nprocs"), int):
            record["nprocs"] = [params["_nprocs"]]
        else:
            record["nprocs"] = _counts(parallel)
    mpi = item.get_closest_marker("mpi")
    if mpi is not None:
        record["mpi"] = True
        size = mpi.kwargs.get("min_size")
        record["min_size"] = size if isinstance(size, int) and not isinstance(size, bool) else None
    timeout = item.get_closest_marker("timeout")
    if timeout is not None and timeout.args and isinstance(timeout.args[0], (int, float)):
        record["timeout"] = timeout.args[0]
    return record


def pytest_collection_finish(session):
    for item in session.items:
        try:
            _items.append(_record(item))
        except Exception as error:  # noqa: BLE001 -- one odd item must not lose the others
            _errors.append({"id": _workspace_id(item.nodeid), "file": frames.relative_path(str(item.path)), "line": 1,
                            "message": "distest could not read this item: %r" % (error,)})


def pytest_collectreport(report):
    if report.passed or not report.nodeid or not _OUT:
        return
    text = report.longreprtext
    file = frames.relative_path(os.path.join(_rootpath, report.nodeid.split("::")[0]))
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        # A skip at collection (importorskip, a module-level pytest.skip): where and why, not the tuple's repr.
        path, line, reason = report.longrepr
        _errors.append({"id": _workspace_id(report.nodeid), "file": file,
                        "line": int(line) if frames.relative_path(path) == file else 1,
                        "message": reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason, "skipped": True})
        return
    lines = [int(m.group("line") or m.group("syntax_line")) for m in _TRACEBACK_LINE.finditer(text)
             if frames.relative_path(m.group("path") or m.group("syntax_path")) == file]
    _errors.append({"id": _workspace_id(report.nodeid), "file": file, "line": lines[-1] if lines else 1,
                    "message": _collection_message(text), "skipped": bool(report.skipped)})


def pytest_sessionfinish(session):
    if not _OUT:
        return
    with open(_OUT, "w", encoding="utf-8") as out:
        json.dump({"items": _items, "errors": _errors}, out)
