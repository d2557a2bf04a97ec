"""Rank detection and framed record output shared by the distest pytest plugin and unittest hooks.

Frame line (one os.write each, so pipes and launcher taggers keep it whole):
    @@distest:<token>:<rank>:<msgid>:<index>:<count>:<base64 chunk>\n
The record is JSON -> UTF-8 -> base64, cut into chunks of at most CHUNK_CHARS characters.
Ordinary output can never look like a frame because it cannot know the per-run token.

Nothing here runs unless DISTEST_TOKEN is set: without it the module is inert.
"""
import base64
import faulthandler
import functools
import json
import os
import signal
import sys
import threading
import time

FRAME_PREFIX = "@@distest:"
# A whole frame line stays below PIPE_BUF (4096 on Linux) so one write is atomic on a pipe and fits
# in one read of OpenMPI's 4 KiB forwarding buffer most of the time.
CHUNK_CHARS = 3000

_RANK_VARS = ("DISTEST_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "PALS_RANKID")
# PMIx and PALS export no world size of their own; their launchers set PMI_SIZE / OMPI_* alongside.
_SIZE_VARS = ("DISTEST_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")


def _first_int(names, default):
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return default


TOKEN = os.environ.get("DISTEST_TOKEN") or None
RANK = _first_int(_RANK_VARS, 0)
SIZE = max(_first_int(_SIZE_VARS, 1), RANK + 1)
# socket.gethostname() is uname's nodename; a unittest rank imports no socket module otherwise (~4 ms).
HOST = os.uname().nodename

# A launch distest started ahead of its slots (packing an allocation) starts up beside the launch still
# holding them: its ranks say hello, then run no test until distest creates this file.
GATE = os.environ.get("DISTEST_GATE") or None
_GATE_POLL_SECONDS = 0.005

# json.dumps with separators builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_lock = threading.Lock()
_next_msgid = 0
_token_hidden = False
_owner = None
_out_fd = None
_stack_file = None


def _setup():
    """Keep private copies of fds 1 and 2 made before pytest's fd capture swaps them out."""
    global _out_fd, _stack_file
    try:
        _out_fd = os.dup(1)
    except OSError:
        _out_fd = None
    try:
        _stack_file = os.fdopen(os.dup(2), "w", closefd=True)
    except OSError:
        _stack_file = sys.stderr
    if not faulthandler.is_enabled():
        faulthandler.enable(file=_stack_file, all_threads=True)
    usr1 = getattr(signal, "SIGUSR1", None)
    # The hang watchdog sends SIGUSR1 to every rank to get its Python stack; never replace a user's handler.
    if usr1 is not None and signal.getsignal(usr1) in (signal.SIG_DFL, None):
        faulthandler.register(usr1, file=_stack_file, all_threads=True, chain=False)


if TOKEN is not None:
    _setup()


def active():
    return TOKEN is not None and _out_fd is not None


def claim(owner):
    """Make `owner` ('pytest' or 'unittest') the one reporter of this process; False if another already is."""
    global _owner
    if _owner is None:
        _owner = owner
    return _owner == owner


def owner():
    return _owner


def _write_all(data):
    view = memoryview(data)
    while view:
        written = os.write(_out_fd, view)
        view = view[written:]


def _flush_python_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def emit(record):
    """Write one record as frame lines. Never raises: reporting must not break the user's run."""
    global _next_msgid, _token_hidden
    if not active():
        return
    if not _token_hidden:
        # Processes the tests spawn must not report as this rank: the token belongs to this process alone.
        os.environ.pop("DISTEST_TOKEN", None)
        _token_hidden = True
    try:
        payload = base64.b64encode(_ENCODER.encode(record).encode("utf-8")).decode("ascii")
        chunks = [payload[i:i + CHUNK_CHARS] for i in range(0, len(payload), CHUNK_CHARS)]
        with _lock:
            msgid = _next_msgid
            _next_msgid += 1
            _flush_python_streams()
            for index, chunk in enumerate(chunks):
                line = "%s%s:%d:%d:%d:%d:%s\n" % (FRAME_PREFIX, TOKEN, RANK, msgid, index, len(chunks), chunk)
                _write_all(line.encode("ascii"))
    except Exception as error:  # noqa: BLE001 - a closed pipe or odd record must not fail the test
        try:
            sys.stderr.write("distest: could not report a record: %r\n" % (error,))
        except Exception:  # noqa: BLE001
            pass


def hello(tests):
    emit({"kind": "hello", "rank": RANK, "size": SIZE, "host": HOST, "pid": os.getpid(), "tests": list(tests)})
    if GATE is not None and active():
        while not os.path.exists(GATE):
            time.sleep(_GATE_POLL_SECONDS)


def start(test):
    emit({"kind": "start", "rank": RANK, "test": test})


def result(test, phase, outcome, duration_ms, location=None, message=None, text=None, pytest_outcome=None):
    record = {"kind": "result", "rank": RANK, "size": SIZE, "host": HOST, "test": test, "phase": phase,
              "outcome": outcome, "durationMs": round(duration_ms, 3)}
    if pytest_outcome is not None:
        record["pytestOutcome"] = pytest_outcome
    if location is not None:
        record["location"] = {"file": location[0], "line": location[1]}
    if message:
        record["message"] = message
    if text:
        record["text"] = text
    emit(record)


def bye():
    emit({"kind": "bye", "rank": RANK})


def relative_path(path, base=None):
    """`path` relative to DISTEST_ROOT (or `base`, or cwd) with forward slashes; absolute when outside it."""
    root = os.environ.get("DISTEST_ROOT") or base or os.getcwd()
    absolute = os.path.abspath(str(path))
    try:
        relative = os.path.relpath(absolute, os.path.abspath(str(root)))
    except ValueError:
        return absolute.replace(os.sep, "/")
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return absolute.replace(os.sep, "/")
    return relative.replace(os.sep, "/")


def workspace_id(nodeid, rootdir):
    """A pytest node id (relative to `rootdir`, pytest's) relative to DISTEST_ROOT instead: prefixed with the
    folder's path when pytest's rootdir is a folder below the workspace folder (a nested test root), else
    unchanged (a rootdir elsewhere, e.g. the same folder through a symlink, is left alone)."""
    if not rootdir or not nodeid:
        return nodeid
    return _id_prefix(str(rootdir)) + nodeid


@functools.lru_cache(maxsize=None)
def _id_prefix(rootdir):
    # Every id of a session has the same rootdir: its prefix is worked out once, not for each of a test's records.
    root = os.environ.get("DISTEST_ROOT")
    if not root:
        return ""
    relative = os.path.relpath(os.path.abspath(rootdir), os.path.abspath(root))
    if relative == os.curdir or relative == os.pardir or relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
        return ""
    return relative.replace(os.sep, "/") + "/"
