"""distest's sitecustomize: makes unittest files run by a launcher we don't control report per-rank records.

Being first on PYTHONPATH, this module shadows any other sitecustomize (Debian ships one in
/etc/python3.x), so it runs that one too: nothing the user's Python did at startup may go missing.
Without DISTEST_TOKEN in the environment it only does that. With it, it also restores arguments distest
had to percent-encode (file names that are not valid UTF-8: Node cannot put such bytes in argv).
"""
import importlib.machinery
import importlib.util
import os
import sys


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.realpath(__file__))
    others = [entry for entry in sys.path if os.path.realpath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception as error:  # noqa: BLE001 - the same leniency site.py shows a failing sitecustomize
        sys.stderr.write("Error in sitecustomize %s; %s: %s\n" % (spec.origin, type(error).__name__, error))


# Must match FS_NAME_ARGUMENT_PREFIX in src/core/fsNames.ts.
_FS_NAME_PREFIX = "distest-fsname:"


def _restore_file_name_arguments():
    if not any(arg.startswith(_FS_NAME_PREFIX) for arg in getattr(sys, "argv", ())):
        return
    from urllib.parse import unquote_to_bytes

    sys.argv[:] = [os.fsdecode(unquote_to_bytes(arg[len(_FS_NAME_PREFIX):])) if arg.startswith(_FS_NAME_PREFIX) else arg
                   for arg in sys.argv]


def _start_agent_part(trigger, entry, what):
    """Runs `entry` (module.function) when `trigger` is set; a failure is said, never fatal to the program."""
    if not os.environ.get(trigger):
        return
    name, _, function = entry.partition(".")
    try:
        getattr(importlib.import_module(name), function)()
    except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
        sys.stderr.write("distest: %s: %r\n" % (what, error))


_run_shadowed_sitecustomize()
if os.environ.get("DISTEST_TOKEN"):
    _restore_file_name_arguments()
_start_agent_part("DISTEST_TOKEN", "distest_unittest.install", "unittest reporting disabled")
# A distest Debug run (DISTEST_DEBUG_RANKS): this rank under debugpy, before any user code or MPI.
_start_agent_part("DISTEST_DEBUG_RANKS", "distest_debug.start", "debugger not started")
