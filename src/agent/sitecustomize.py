"""distest's sitecustomize: makes unittest files run by a launcher we don't control report per-rank records.

Being first on PYTHONPATH, this module shadows any other sitecustomize (Debian ships one in
/etc/python3.x), so it runs that one too: nothing the user's Python did at startup may go missing.
Without DISTEST_TOKEN in the environment it only does that.
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


def _install_distest():
    if not os.environ.get("DISTEST_TOKEN"):
        return
    try:
        import distest_unittest

        distest_unittest.install()
    except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
        sys.stderr.write("distest: unittest reporting disabled: %r\n" % (error,))


_run_shadowed_sitecustomize()
_install_distest()
