"""Puts this rank under debugpy for a distest Debug run (imported by sitecustomize before anything else runs).

Runs only when DISTEST_DEBUG_RANKS names this rank (`all`, `0`, `0,2-3`): configures debugpy without
sub-process debugging, listens on loopback (an ephemeral port: the adapter has no authentication, so it is
never reachable from the network; distest relays it), reports {rank, host, port, pid} as a `debug` record on
the agent's framed channel, then waits for a client (its configurationDone) up to DISTEST_DEBUG_WAIT
seconds and runs on. All of this happens at interpreter start, before mpi4py can initialise MPI (Open MPI
discourages fork after MPI_Init, and listen() starts the adapter process).

Without debugpy it reports an `error` debug record naming this python and the install command; distest ends
the launch with it.
"""
import os
import sys
import threading

import distest_frames as frames


def _selected(selection, rank):
    selection = selection.strip()
    if selection in ("all", "*"):
        return True
    for part in selection.split(","):
        low, _, high = part.strip().partition("-")
        try:
            if int(low) <= rank <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _record(event, **fields):
    record = {"kind": "debug", "event": event, "rank": frames.RANK, "size": frames.SIZE, "host": frames.HOST, "pid": os.getpid()}
    record.update(fields)
    frames.emit(record)


def start():
    selection = os.environ.pop("DISTEST_DEBUG_RANKS", None)
    wait_text = os.environ.pop("DISTEST_DEBUG_WAIT", None)
    if not selection or not frames.active() or not _selected(selection, frames.RANK):
        return
    # Processes this rank starts (the debugpy adapter first) must neither report nor debug as this rank.
    os.environ.pop("DISTEST_TOKEN", None)
    # pydevd warns in every rank's log that Python 3.11's frozen modules may miss breakpoints: those are
    # the interpreter's own startup modules, not code a test's breakpoints are in.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        import debugpy
    except ImportError as error:
        _record("error", message=(
            "debugpy is not importable by %s on %s (%s): install it for that python "
            "(Debian/Ubuntu: apt-get install python3-debugpy; pip: %s -m pip install debugpy)"
            % (sys.executable, frames.HOST, error, sys.executable)))
        return
    try:
        debugpy.configure(subProcess=False)
        with _adapter_stdio_detached():
            _host, port = debugpy.listen(("127.0.0.1", 0))
    except Exception as error:  # noqa: BLE001 - the run must say why, not hang
        _record("error", message="debugpy.listen failed in %s on %s: %r" % (sys.executable, frames.HOST, error))
        return
    _record("listening", port=port)
    try:
        wait = float(wait_text or "300")
    except ValueError:
        wait = 300.0
    waiter = threading.Thread(target=_wait_for_client, args=(debugpy,), name="distest-debug-wait", daemon=True)
    waiter.start()
    waiter.join(wait if wait > 0 else None)
    if waiter.is_alive():
        try:
            debugpy.wait_for_client.cancel()
        except Exception:  # noqa: BLE001
            pass
        _record("unattended", waitSeconds=wait)
    else:
        _record("attached")


class _adapter_stdio_detached(object):
    """The adapter process listen() starts inherits fds 0-2: give it /dev/null instead of the launcher's
    pipes, which the launcher waits on (Open MPI counts a rank done only when its output pipes close)."""

    def __enter__(self):
        self.saved = []
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in (0, 1, 2):
                try:
                    self.saved.append((fd, os.dup(fd)))
                except OSError:
                    continue
                os.dup2(null, fd)
        finally:
            os.close(null)

    def __exit__(self, *exc):
        for fd, copy in self.saved:
            os.dup2(copy, fd)
            os.close(copy)
        return False


def _wait_for_client(debugpy):
    try:
        debugpy.wait_for_client()
    except Exception:  # noqa: BLE001 - cancelled
        pass
