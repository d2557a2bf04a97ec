import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RankLine } from '../../src/core/ranks/demux';
import { rankProblem } from '../../src/core/ranks/rankProblems';
import { recordedLines } from './recorded';


const stderrOf = (all: RankLine[], rank: number) => all.filter(l => l.rank === rank && l.stream === 'stderr').map(l => l.text);

test('a rank without pytest-mpi: pytest usage error, with the plugin that brings --with-mpi', () => {
  const recorded = recordedLines('openmpi-startup-no-plugin');
  for (const rank of [0, 1]) {
    assert.deepEqual(rankProblem(stderrOf(recorded, rank)), {
      kind: 'error', line: 'pytest: error: unrecognized arguments: --with-mpi (--with-mpi comes from pytest-mpi, which this python does not have)',
    });
  }
});

test('a python without pytest, and a module import failure in a traceback (a tag inside the line joined back)', () => {
  assert.deepEqual(rankProblem(stderrOf(recordedLines('openmpi-startup-no-pytest'), 1)), { kind: 'error', line: '/usr/bin/python3: No module named pytest' });
  const noMpi = recordedLines('openmpi-startup-no-mpi4py');
  for (const rank of [0, 1]) assert.deepEqual(rankProblem(stderrOf(noMpi, rank)), { kind: 'error', line: "ModuleNotFoundError: No module named 'mpi4py'" });
});

test('a test file that is not where the rank runs', () => {
  assert.deepEqual(rankProblem(stderrOf(recordedLines('openmpi-startup-file-not-found'), 0)), {
    kind: 'not-found', path: 'tests/not_on_this_node.py', line: 'ERROR: file or directory not found: tests/not_on_this_node.py::test_x',
  });
});

test('test ids pytest does not find in their file: every one of them, as pytest printed them', () => {
  const recorded = recordedLines('openmpi-startup-no-such-test');
  for (const rank of [0, 1]) {
    const problem = rankProblem(stderrOf(recorded, rank));
    assert.equal(problem?.kind, 'no-such-test');
    assert.deepEqual(problem.kind === 'no-such-test' && problem.nodes.map(n => n.slice(n.indexOf('tests/'))), [
      'tests/test_mpi_marks.py::test_renamed_since', 'tests/test_mpi_marks.py::test_gather[made_by_a_plugin]',
    ]);
  }
});

test('nothing recognisable is no problem: ordinary output, a crash dump without traceback', () => {
  assert.equal(rankProblem(['hello', 'warning: something', '']), undefined);
  assert.equal(rankProblem(stderrOf(recordedLines('openmpi-pytest'), 0)), undefined);
  // An exception line outside any traceback (a test printing it) is not the rank's own.
  assert.equal(rankProblem(['ValueError: printed by a test']), undefined);
});

test('a conftest that fails to import names the conftest and the cause', () => {
  const recorded = recordedLines('openmpi-startup-conftest');
  for (const rank of [0, 1]) {
    const problem = rankProblem(stderrOf(recorded, rank));
    assert.equal(problem?.kind, 'error');
    assert.match(problem.line, /^ImportError while loading conftest \/tmp\/\S+\/tests\/conftest\.py: ModuleNotFoundError: No module named 'missing_dep_for_distest'$/);
  }
});
