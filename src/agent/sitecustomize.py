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


def _install_distest():
    if not os.environ.get("DISTEST_TOKEN"):
        return
    try:
        import distest_unittest

        distest_unittest.install()
    except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
        sys.stderr.write("distest: unittest reporting disabled: %r\n" % (error,))


_run_shadowed_sitecustomize()
if os.environ.get("DISTEST_TOKEN"):
    _restore_file_name_arguments()
_install_distest()


def _start_debugger():
    """A distest Debug run (DISTEST_DEBUG_RANKS): this rank under debugpy, before any user code or MPI."""
    if not os.environ.get("DISTEST_DEBUG_RANKS"):
        return
    try:
        import distest_debug

        distest_debug.start()
    except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
        sys.stderr.write("distest: debugger not started: %r\n" % (error,))


_start_debugger()
