"""pytest plugin (`-p distest_pytest`): reports every test phase that matters on this rank as framed records.

Only observes: it never changes outcomes or output, so it coexists with pytest-mpi and pytest_parallel.
Inert unless DISTEST_TOKEN is set. It changes collection only as node id arguments would: with
DISTEST_SELECT, pytest gets the tests' files and keeps the tests that variable names.
"""
import functools
import json
import os
import re
import sys

import pytest

import distest_frames as frames

# `path/to/file.py:42: in test_x` lines of a collection error's formatted traceback, and the
# `File "path/to/file.py", line 4` a SyntaxError names its line with.
_TRACEBACK_LINE = re.compile(r'^(?:(?P<path>[^\s:][^:]*\.py):(?P<line>\d+):|E?\s*File "(?P<syntax_path>[^"]+\.py)", line (?P<syntax_line>\d+))',
                             re.MULTILINE)
# The exception line among pytest's `E   ...` lines (`SyntaxError: '(' was never closed`).
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)(?::|$)")

_base_dir = None
# The launch's tests as distest names them (JSON list), when distest gives pytest their files instead of
# one node id argument per test (pytest matches each of those on its own, ~0.3 ms a test). Hidden from
# the processes tests start: a pytest they run must not select by it.
_SELECTION = os.environ.pop("DISTEST_SELECT", "") or None
# What a failed or skipped collection report settles (a module that cannot be imported): no "not found".
_collection_settled = set()


def _active():
    return frames.active() and frames.owner() == "pytest"


def _report_problem(hook, error):
    sys.stderr.write("distest: %s failed: %r\n" % (hook, error))


def pytest_configure(config):
    global _base_dir
    # distest enforces @pytest.mark.timeout itself; without pytest-timeout the mark must still be known.
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): distest stops the test after this many seconds")
    if frames.active():
        frames.claim("pytest")
    _base_dir = str(config.rootpath)


def pytest_collection_finish(session):
    if _active():
        frames.hello(_id(item.nodeid) for item in session.items)


def pytest_collectreport(report):
    if report.passed or not report.nodeid:
        return
    _collection_settled.add(_id(report.nodeid))
    if not _active():
        return
    try:
        text = report.longreprtext
        if report.skipped:
            location, message = _skip_location(report), _skip_reason(report)
            frames.result(_id(report.nodeid), "setup", "skipped", 0, location, message)
            return
        file = frames.relative_path(os.path.join(_base_dir, report.nodeid.split("::")[0]), _base_dir)
        lines = [int(m.group("line") or m.group("syntax_line")) for m in _TRACEBACK_LINE.finditer(text)
                 if frames.relative_path(m.group("path") or m.group("syntax_path"), _base_dir) == file]
        location = (file, lines[-1] if lines else 1)
        frames.result(_id(report.nodeid), "setup", "error", 0, location, _collection_message(text), text)
    except Exception as error:  # noqa: BLE001
        _report_problem("pytest_collectreport", error)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Keeps the items DISTEST_SELECT names, as pytest keeps those its node id arguments name: an id
    selects the item itself, or what a module, class or unparametrized function id holds. An id that
    selects nothing is pytest's usage error `not found` (nothing runs), unless its collection failed."""
    if _SELECTION is None:
        return
    wanted = _selected()[0]
    kept, dropped, matched = [], [], set()
    for item in items:
        names = wanted.intersection(_enclosing(_id(item.nodeid)))
        (kept if names else dropped).append(item)
        matched.update(names)
    missing = sorted(w for w in wanted - matched if _collection_settled.isdisjoint(_enclosing(w)))
    if missing:
        root = os.environ.get("DISTEST_ROOT") or _base_dir
        raise pytest.UsageError(*["not found: %s\n(no name %r in any of the collected items)" % (os.path.join(root, w), w)
                                  for w in missing])
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector):
    """Collects, inside a module, only the classes on the way to a test DISTEST_SELECT names, as pytest
    does for node id arguments: a broken class beside the tests asked for stays out of the run."""
    if _SELECTION is None or "::" not in collector.nodeid:
        return None
    own = _id(collector.nodeid)
    wanted, on_the_way = _selected()
    if own in on_the_way or not wanted.isdisjoint(_enclosing(own)):
        return None
    return pytest.CollectReport(collector.nodeid, "passed", None, [])


@functools.lru_cache(maxsize=None)
def _selected():
    """The ids DISTEST_SELECT names, and every id on the way to them (their modules and classes)."""
    wanted = frozenset(json.loads(_SELECTION))
    return wanted, frozenset(e for w in wanted for e in _enclosing(w))


def _enclosing(node_id):
    """The id and the ids that select it as pytest arguments: its module and classes (cut at each `::`
    before any `[`) and, parametrized, its function (the id without `[...]`)."""
    head, bracket, _ = node_id.partition("[")
    found = [node_id, head] if bracket else [node_id]
    at = head.find("::")
    while at > 0:
        found.append(head[:at])
        at = head.find("::", at + 2)
    return found


def pytest_runtest_logstart(nodeid, location):
    if _active():
        frames.start(_id(nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _active() or call.excinfo is None:
        return
    try:
        report = outcome.get_result()
        report.distest_location = _failure_location(item, call.excinfo)
    except Exception as error:  # noqa: BLE001
        _report_problem("pytest_runtest_makereport", error)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_logreport(report):
    # A wrapper runs before every plain implementation: pytest_parallel's gathers the sub-communicator's
    # reports into its rank 0's (a failure on rank 1 would read as rank 0's too); this rank's own is sent.
    if _active():
        try:
            _emit_phase(report)
        except Exception as error:  # noqa: BLE001
            _report_problem("pytest_runtest_logreport", error)
    yield


def pytest_sessionfinish(session):
    if _active():
        frames.bye()


def _id(nodeid):
    """The id distest knows the test by: relative to the workspace folder, whatever pytest's rootdir."""
    return frames.workspace_id(nodeid, _base_dir)


def _emit_phase(report):
    phase = report.when
    xfail = getattr(report, "wasxfail", None)
    if report.skipped:
        if xfail is not None:
            # pytest's own words: `XFAIL id - reason` in its summary, `reason: ...` for pytest.xfail().
            reason = xfail[len("reason: "):] if xfail.startswith("reason: ") else xfail
            message = "xfail (expected failure)" + (": " + reason if reason else "")
            frames.result(_id(report.nodeid), phase, "skipped", report.duration * 1000,
                          getattr(report, "distest_location", None), message, report.longreprtext, "xfailed")
        else:
            frames.result(_id(report.nodeid), phase, "skipped", report.duration * 1000,
                          _skip_location(report), _skip_reason(report))
    elif report.failed:
        outcome = "failed" if phase == "call" else "error"
        # A strict xfail that passed fails as `[XPASS(strict)] reason`.
        xpassed = "xpassed" if phase == "call" and report.longreprtext.startswith("[XPASS(strict)]") else None
        frames.result(_id(report.nodeid), phase, outcome, report.duration * 1000,
                      getattr(report, "distest_location", None), _failure_message(report), report.longreprtext, xpassed)
    elif phase == "call":
        frames.result(_id(report.nodeid), phase, "passed", report.duration * 1000,
                      pytest_outcome="xpassed" if xfail is not None else None)


def _failure_location(item, excinfo):
    """The deepest traceback line inside the test's own file, else the test's def line."""
    test_file = str(item.path)
    line = None
    for entry in excinfo.traceback:
        if str(entry.path) == test_file:
            line = entry.lineno + 1
    if line is None:
        location = item.location
        line = location[1] + 1 if location[1] is not None else 1
    return (frames.relative_path(test_file, _base_dir), line)


def _failure_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    return lines[-1] if lines else "failed"


def _collection_message(text):
    """The exception among the `E   ...` lines pytest puts under a collection traceback, else all of
    them, else its first line."""
    error_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    exceptions = [line for line in error_lines if _EXCEPTION_LINE.match(line)]
    if exceptions:
        return exceptions[-1]
    if error_lines:
        return "\n".join(error_lines)
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "collection failed"


def _skip_location(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, _ = report.longrepr
        return (frames.relative_path(path, _base_dir), int(line))
    return None


def _skip_reason(report):
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return report.longreprtext or "skipped"
