"""unittest reporting for distest.

Two ways in, one mechanism: `install()` patches unittest's TestResult and TestSuite so whatever runner
a file uses (unittest.main(), a launcher template we don't control, or `python -m distest_unittest
<file.py> [Class.method ...]`, or `--file A.py [names] --file B.py ...` for a batch of files in one launch) emits framed hello/start/result/bye records. sitecustomize.py calls
install() when DISTEST_TOKEN is set. Test ids are `<file relative to DISTEST_ROOT or cwd>::Class::method`.

Mapping: an exception inside a test (setUp, the method, tearDown, a subtest) is a failed call; one
outside any test (setUpClass, setUpModule, ...) is an error of the class or file; an expected failure
is skipped, an unexpected success failed.
"""
import importlib.util
import inspect
import os
import re
import sys
import time
import traceback
import unittest

import distest_frames as frames

_FIXTURE_DESCRIPTION = re.compile(r"^(?P<fixture>\w+) \((?P<target>[^)]*)\)")
_running = {}
_hello_sent = False


def _reporting():
    return frames.active() and frames.claim("unittest")


def _module_file(module_name):
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return frames.relative_path(path) if path else module_name


def _is_fixture_error(test):
    return isinstance(test, unittest.suite._ErrorHolder)


def test_id(test):
    """`file::Class::method` for a test, `file::Class` or `file` for a class or module fixture error."""
    if isinstance(test, unittest.case._SubTest):
        test = test.test_case
    if _is_fixture_error(test):
        match = _FIXTURE_DESCRIPTION.match(test.description)
        if match is None:
            return test.description
        target = match.group("target")
        if match.group("fixture") in ("setUpModule", "tearDownModule"):
            return _module_file(target)
        module_name, _, class_name = target.rpartition(".")
        return "%s::%s" % (_module_file(module_name), class_name)
    cls = type(test)
    return "%s::%s::%s" % (_module_file(cls.__module__), cls.__name__, getattr(test, "_testMethodName", str(test)))


def _test_file(test):
    module = sys.modules.get(type(test).__module__)
    path = getattr(module, "__file__", None)
    return os.path.realpath(path) if path else None


def _def_line(test):
    method = getattr(test, getattr(test, "_testMethodName", ""), None)
    try:
        return inspect.unwrap(method).__code__.co_firstlineno
    except AttributeError:
        return 1


def _failure_location(test, err):
    """The deepest traceback line inside the test's own file, else the test method's def line."""
    test_file = _test_file(test)
    if test_file is None:
        return None
    line = None
    tb = err[2] if err else None
    while tb is not None:
        if os.path.realpath(tb.tb_frame.f_code.co_filename) == test_file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return (frames.relative_path(test_file), line if line is not None else _def_line(test))


def _exception_message(err):
    return "".join(traceback.format_exception_only(err[0], err[1])).strip()


class _Running:
    """What one test did so far; reported as a single call record when it stops."""

    def __init__(self):
        self.started = time.monotonic()
        self.outcome = "passed"
        self.messages = []
        self.texts = []
        self.location = None

    def note(self, outcome, message=None, text=None, location=None):
        rank = ("passed", "skipped", "failed")
        if rank.index(outcome) >= rank.index(self.outcome):
            self.outcome = outcome
        if message:
            self.messages.append(message)
        if text:
            self.texts.append(text)
        if self.location is None:
            self.location = location


def _on_start(result, test):
    _send_hello([])
    frames.start(test_id(test))
    _running[id(test)] = _Running()


def _note(test, outcome, message=None, text=None, location=None):
    state = _running.get(id(test))
    if state is not None:
        state.note(outcome, message, text, location)


def _on_failure(result, test, err):
    text = result._exc_info_to_string(err, test)
    if _is_fixture_error(test):
        frames.result(test_id(test), "setup", "error", 0, None, _exception_message(err), text)
    else:
        _note(test, "failed", _exception_message(err), text, _failure_location(test, err))


def _on_skip(result, test, reason):
    if _is_fixture_error(test):
        frames.result(test_id(test), "setup", "skipped", 0, None, reason)
    elif not isinstance(test, unittest.case._SubTest):
        _note(test, "skipped", reason)


def _on_subtest(result, test, subtest, err):
    if err is not None:
        text = result._exc_info_to_string(err, test)
        message = "%s %s" % (subtest._subDescription(), _exception_message(err))
        _note(test, "failed", message, text, _failure_location(test, err))


def _on_expected_failure(result, test, err):
    _note(test, "skipped", "expected failure: " + _exception_message(err))


def _on_unexpected_success(result, test):
    _note(test, "failed", "unexpected success", None, _failure_location(test, None))


def _on_stop(result, test):
    state = _running.pop(id(test), None)
    if state is None:
        return
    duration_ms = (time.monotonic() - state.started) * 1000
    message = "\n".join(state.messages) or None
    text = "\n".join(state.texts) or None
    frames.result(test_id(test), "call", state.outcome, duration_ms, state.location, message, text)


def _on_stop_run(result):
    frames.bye()


def _send_hello(tests):
    global _hello_sent
    if not _hello_sent:
        _hello_sent = True
        frames.hello(tests)


def _leaf_tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _leaf_tests(test)
        else:
            yield test


_RESULT_HOOKS = {
    "startTest": _on_start,
    "stopTest": _on_stop,
    "addFailure": _on_failure,
    "addError": _on_failure,
    "addSkip": _on_skip,
    "addSubTest": _on_subtest,
    "addExpectedFailure": _on_expected_failure,
    "addUnexpectedSuccess": _on_unexpected_success,
    "stopTestRun": _on_stop_run,
}


def _after(original, hook):
    def patched(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        if _reporting():
            try:
                hook(self, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 - reporting must not break the user's run
                sys.stderr.write("distest: %s hook failed: %r\n" % (original.__name__, error))
        return value
    patched.__wrapped__ = original
    return patched


def _suite_run(original):
    def run(self, result, debug=False):
        if _reporting() and not _hello_sent:
            try:
                _send_hello([test_id(test) for test in _leaf_tests(self)])
            except Exception as error:  # noqa: BLE001
                sys.stderr.write("distest: listing tests failed: %r\n" % (error,))
        return original(self, result, debug)
    run.__wrapped__ = original
    return run


def install():
    """Patch unittest once per process; a no-op when DISTEST_TOKEN is unset."""
    if not frames.active() or getattr(unittest.TestResult, "_distest_installed", False):
        return
    for name, hook in _RESULT_HOOKS.items():
        setattr(unittest.TestResult, name, _after(getattr(unittest.TestResult, name), hook))
    unittest.TestSuite.run = _suite_run(unittest.TestSuite.run)
    unittest.TestResult._distest_installed = True


def _load_file(path, unique=False):
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0]
    if unique:
        # Files of a batch may share a base name (a/test_x.py, b/test_x.py): each keeps a module of its own.
        base, n = name, 1
        while name in sys.modules:
            n += 1
            name = "%s__distest%d" % (base, n)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s as a Python module" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolves(module, dotted):
    target = module
    for part in dotted.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return True


_USAGE = ("usage: python -m distest_unittest <file.py> [Class | Class.method | Class::method ...]\n"
          "       python -m distest_unittest --file <file.py> [names ...] [--file <file.py> [names ...] ...]\n")


def _file_groups(argv):
    """`--file F [names] --file G [names]` → [(F, [names]), (G, [names])]; the word after --file is always a file."""
    groups = []
    i = 0
    while i < len(argv):
        if argv[i] != "--file" or i + 1 >= len(argv):
            return None
        groups.append((argv[i + 1], []))
        i += 2
        while i < len(argv) and argv[i] != "--file":
            groups[-1][1].append(argv[i])
            i += 1
    return groups


def _load_failure(path, error, text):
    """Reports a file that cannot be imported as that file's error; the batch goes on with the others."""
    sys.stderr.write(text)
    if _reporting():
        file_id = frames.relative_path(path)
        frames.result(file_id, "setup", "error", 0, (file_id, _import_error_line(text, path)),
                      _exception_message((type(error), error, None)), text)


def run_files(groups):
    """Runs several files' tests in this one process (a batch of launcher-template files), one suite, one hello."""
    # `python file.py` puts the file's folder first on sys.path, not the working directory that -m adds.
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.getcwd():
        del sys.path[0]
    install()
    loader = unittest.TestLoader()
    suites, expected, missing, failed = [], [], [], []
    for path, names in groups:
        path = os.path.abspath(path)
        file_id = frames.relative_path(path)
        try:
            module = _load_file(path, unique=True)
        except BaseException as error:  # noqa: BLE001 - SystemExit from an import is a load failure too
            failed.append((path, error, traceback.format_exc()))
            continue
        names = [name.replace("::", ".") for name in names]
        gone = [name for name in names if not _resolves(module, name)]
        if names:
            suite = unittest.TestSuite(loader.loadTestsFromName(name, module) for name in names if name not in gone)
        else:
            suite = loader.loadTestsFromModule(module)
        suites.append(suite)
        expected.extend(test_id(test) for test in _leaf_tests(suite))
        missing.extend(("%s::%s" % (file_id, name.replace(".", "::")), file_id, name) for name in gone)
    if _reporting():
        _send_hello(expected + [m[0] for m in missing])
        for missing_id, file_id, name in missing:
            frames.result(missing_id, "setup", "error", 0, None, "not found: %s has no test %s" % (file_id, name))
    for path, error, text in failed:
        _load_failure(path, error, text)
    for _, file_id, name in missing:
        sys.stderr.write("distest_unittest: %s has no test %s\n" % (file_id, name))
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(unittest.TestSuite(suites))
    return 0 if result.wasSuccessful() and not missing and not failed else 1


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(_USAGE)
        return 2
    if argv[0] == "--file":
        groups = _file_groups(argv)
        if groups is None:
            sys.stderr.write(_USAGE)
            return 2
        return run_files(groups)
    path = os.path.abspath(argv[0])
    file_id = frames.relative_path(path)
    install()
    try:
        module = _load_file(path)
    except BaseException as error:  # noqa: BLE001 - SystemExit from an import is a load failure too
        if _reporting():
            _send_hello([])
        _load_failure(path, error, traceback.format_exc())
        if _reporting():
            frames.bye()
        return 2
    loader = unittest.TestLoader()
    names = [name.replace("::", ".") for name in argv[1:]]
    missing = [name for name in names if not _resolves(module, name)]
    if names:
        suite = unittest.TestSuite(loader.loadTestsFromName(name, module) for name in names if name not in missing)
    else:
        suite = loader.loadTestsFromModule(module)
    if _reporting():
        missing_ids = ["%s::%s" % (file_id, name.replace(".", "::")) for name in missing]
        _send_hello([test_id(test) for test in _leaf_tests(suite)] + missing_ids)
        for name, missing_id in zip(missing, missing_ids):
            frames.result(missing_id, "setup", "error", 0, None, "not found: %s has no test %s" % (file_id, name))
    for name in missing:
        sys.stderr.write("distest_unittest: %s has no test %s\n" % (argv[0], name))
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
    return 0 if result.wasSuccessful() and not missing else 1


def _import_error_line(text, path):
    lines = [int(m.group(1)) for m in re.finditer(r'File "%s", line (\d+)' % re.escape(path), text)]
    return lines[-1] if lines else 1


if __name__ == "__main__":
    import distest_unittest  # one module instance, shared with sitecustomize's install()

    sys.exit(distest_unittest.main(sys.argv[1:]))
