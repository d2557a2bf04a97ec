// Why a rank did not get as far as reporting, in its own words: the last thing it printed to stderr
// before exiting (a Python exception, pytest's usage error, "No module named pytest", a missing file).
// Without this the only story left is the launcher's ("exited with code 4", "signal 15").

/** What a rank's stderr says stopped it before it could run its tests. */
export type RankProblem =
  /** pytest's `ERROR: file or directory not found: tests/x.py::test_y`: the file is not where the rank runs. */
  | { kind: 'not-found'; path: string; line: string }
  /** pytest's `ERROR: not found: /abs/tests/x.py::test_y` for each id it collects no test for: nothing ran. */
  | { kind: 'no-such-test'; nodes: string[]; line: string }
  /** The one line that names the error (`ModuleNotFoundError: No module named 'mpi4py'`). */
  | { kind: 'error'; line: string };

/** Lines from the end of a rank's stderr that are looked at: the error comes last. */
const TAIL_LINES = 200;
const MAX_LINE_CHARS = 500;

const NOT_FOUND = /^ERROR: file or directory not found: (.+)$/;
const NODE_NOT_FOUND = /^ERROR: not found: (.+)$/;
const USAGE = /^(?:\S+: )?error: (unrecognized arguments: .+|argument .+)$/;
const NO_MODULE = /^\S+: (No module named .+|can't open file .+)$/;
const CONFTEST = /^ImportError while loading conftest '([^']+)'/;
const EXCEPTION = /^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)(?:: .*)?$/;
const PYTEST_ERROR_LINE = /^E\s+(.+)$/;
const COMMAND_NOT_FOUND = /^(?:.*: )?(?:\S+: )?(?:command not found|not found|No such file or directory|Permission denied)$/;

/** Which plugin brings a pytest option distest passes, for "install it" hints. */
const OPTION_PLUGINS: Record<string, string> = { '--with-mpi': 'pytest-mpi' };

/**
 * The problem a rank's stderr names, if any: the last recognisable one (pytest's not-found and usage
 * errors, an exception, `python: No module named pytest`, a shell's "command not found").
 */
export function rankProblem(stderr: readonly string[]): RankProblem | undefined {
  const lines = stderr.slice(-TAIL_LINES).map(line => line.trimEnd().slice(0, MAX_LINE_CHARS));
  // pytest's conftest failure ends in its `E   ...` cause: name the conftest with it.
  const conftestAt = lines.findIndex(line => CONFTEST.test(line));
  if (conftestAt >= 0) {
    const cause = lines.slice(conftestAt + 1).map(l => PYTEST_ERROR_LINE.exec(l)?.[1]).find(Boolean);
    return { kind: 'error', line: `ImportError while loading conftest ${CONFTEST.exec(lines[conftestAt])?.[1]}${cause ? `: ${cause}` : ''}` };
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i];
    const notFound = NOT_FOUND.exec(line);
    if (notFound) return { kind: 'not-found', path: notFound[1].split('::')[0], line };
    if (NODE_NOT_FOUND.test(line)) {
      const nodes = lines.flatMap(l => NODE_NOT_FOUND.exec(l)?.[1] ?? []);
      return { kind: 'no-such-test', nodes, line };
    }
    if (NO_MODULE.test(line)) return { kind: 'error', line };
    const usage = USAGE.exec(line);
    if (usage) return { kind: 'error', line: `pytest: error: ${usage[1]}${pluginHint(usage[1])}` };
    if (EXCEPTION.test(line) && isInTraceback(lines, i)) return { kind: 'error', line };
    const pytestError = PYTEST_ERROR_LINE.exec(line);
    if (pytestError && EXCEPTION.test(pytestError[1])) return { kind: 'error', line: pytestError[1] };
    if (COMMAND_NOT_FOUND.test(line)) return { kind: 'error', line };
  }
  return undefined;
}

/** An exception line counts when a traceback or pytest's plugin-import wording comes before it. */
function isInTraceback(lines: string[], index: number): boolean {
  for (let i = index - 1; i >= Math.max(0, index - 100); i--) {
    if (lines[i].startsWith('Traceback (most recent call last)') || lines[i].startsWith('  File "')) return true;
  }
  return /^(?:ImportError|ModuleNotFoundError|SyntaxError): /.test(lines[index]);
}

function pluginHint(usage: string): string {
  const option = Object.keys(OPTION_PLUGINS).find(o => usage.includes(o));
  return option ? ` (${option} comes from ${OPTION_PLUGINS[option]}, which this python does not have)` : '';
}
