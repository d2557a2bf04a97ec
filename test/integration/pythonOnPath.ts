// A `python3` of the test's own, first on PATH, to tell which interpreter each rank really runs: Debian's
// python behind a wrapper script that names itself in the environment of the interpreter it starts.
import fs from 'node:fs';
import path from 'node:path';

const DEBIAN_PYTHON = '/usr/bin/python3';

export interface PythonOnPath {
  /** The folder to put first on PATH. */
  bin: string;
  /** The wrapper's path: what `python3` on that PATH resolves to. */
  python: string;
  /** A project whose tests pass only where they run under the wrapper (serial, and on 2 or more ranks); each rank prints `python3 on HOST: WRAPPER`. */
  project: string;
  /** `PATH` with `bin` first. */
  path: string;
}

/** Creates the wrapper and its project under `dir` (which the ranks' nodes must see). */
export function pythonOnPath(dir: string): PythonOnPath {
  const bin = path.join(dir, 'bin');
  const python = path.join(bin, 'python3');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(python, `#!/bin/sh\nDISTEST_PYTHON_WRAPPER="$0" exec ${DEBIAN_PYTHON} "$@"\n`, { mode: 0o755 });
  const project = path.join(dir, 'project');
  fs.mkdirSync(path.join(project, 'tests'), { recursive: true });
  const check = [
    '    print(f"python3 on {socket.gethostname()}: {os.environ.get(\'DISTEST_PYTHON_WRAPPER\')}")',
    '    if os.environ.get("DISTEST_PYTHON_WRAPPER") != WRAPPER:',
    '        pytest.fail(f"{socket.gethostname()} runs {sys.executable}, not {WRAPPER}")\n',
  ].join('\n');
  fs.writeFileSync(path.join(project, 'tests', 'test_which_python.py'), [
    'import os\nimport socket\nimport sys\n\nimport pytest\n\n',
    `WRAPPER = ${JSON.stringify(python)}\n\n\n`,
    '@pytest.mark.mpi(min_size=2)\ndef test_every_rank_runs_it():\n', check, '\n\n',
    'def test_serial_runs_it():\n', check,
  ].join(''));
  return { bin, python, project, path: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
}
