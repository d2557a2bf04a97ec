import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { DiscoveryConfig } from '../../src/core/discovery/config';
import { discoverFolder } from '../../src/core/discovery/folder';
import type { TestSpec } from '../../src/core/types';
import { baseConfig, discover, mpiProject, parser, py, repoRoot } from './discovery-helpers';

/** The node ids real pytest collects in a folder (the fixtures borrow the pytest_parallel stand-in). */
function pytestIds(root: string): string[] {
  const out = execFileSync('/usr/bin/python3', ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', '--color=no'], {
    cwd: root, encoding: 'utf8',
  });
  return out.split('\n').map(l => l.trim()).filter(l => l.includes('::'));
}

function byId(tests: TestSpec[]): Map<string, TestSpec> {
  return new Map(tests.map(t => [t.id, t]));
}

describe('ids match what pytest collects', () => {
  for (const root of [mpiProject, path.join(repoRoot, 'test/fixtures/discovery')]) {
    test(path.relative(repoRoot, root), async () => {
      const found = (await discoverFolder(root, baseConfig, await parser())).flatMap(f => f.tests);
      const collected = pytestIds(root);
      const dynamic = found.filter(t => t.dynamic);
      const staticIds = found.filter(t => !t.dynamic).map(t => t.id);
      // A test whose parameters only the run knows is listed once, under the id pytest selects them all by.
      const expected = collected.filter(id => !dynamic.some(d => id.startsWith(`${d.id}[`)));
      assert.deepEqual([...staticIds].sort(), [...expected].sort());
      for (const d of dynamic) assert.ok(collected.some(id => id.startsWith(`${d.id}[`)), `${d.id} has no pytest counterpart`);
      assert.deepEqual(found.filter(t => t.invalid), []);
    });
  }
});

describe('pytest_parallel', () => {
  test('a single count still gets the [N] suffix; a list gives one test per count in one group', async () => {
    const { tests, diagnostics } = await discover(`
      import pytest_parallel

      @pytest_parallel.mark.parallel(2)
      def test_one(comm):
          pass

      @pytest_parallel.mark.parallel([2, 4])
      def test_many(comm):
          pass
    `);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(tests.map(t => [t.id, t.label, t.ranks, t.groupId, t.framework]), [
      ['tests/test_x.py::test_one[2]', 'test_one[2]', 2, undefined, 'pytest_parallel'],
      ['tests/test_x.py::test_many[2]', 'test_many[2]', 2, 'tests/test_x.py::test_many', 'pytest_parallel'],
      ['tests/test_x.py::test_many[4]', 'test_many[4]', 4, 'tests/test_x.py::test_many', 'pytest_parallel'],
    ]);
  });

  test('every import spelling of the marker', async () => {
    const spellings: [string, string][] = [
      ['import pytest_parallel', '@pytest_parallel.mark.parallel(3)'],
      ['import pytest_parallel as pp', '@pp.mark.parallel(3)'],
      ['from pytest_parallel import mark', '@mark.parallel(3)'],
      ['from pytest_parallel import mark as m', '@m.mark.parallel(3)'.replace('m.mark', 'm')],
      ['from pytest_parallel.mark import parallel', '@parallel(3)'],
      ['from pytest_parallel.mark import parallel as par', '@par(n_proc_list=3)'],
      ['import pytest_parallel.mark', '@pytest_parallel.mark.parallel(3)'],
      ['from pytest_parallel import *', '@mark.parallel(3)'],
    ];
    for (const [imports, decorator] of spellings) {
      const { tests } = await discover(`${imports}\n${decorator}\ndef test_x(comm):\n    pass\n`);
      assert.deepEqual(tests.map(t => [t.id, t.ranks, t.framework]), [['tests/test_x.py::test_x[3]', 3, 'pytest_parallel']], imports);
    }
  });

  test('a look-alike from another module is not the marker', async () => {
    const { tests } = await discover(`
      from mylib import mark

      @mark.parallel(3)
      def test_x():
          pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.framework]), [['tests/test_x.py::test_x', 1, 'pytest']]);
  });

  test('module pytestmark, as one mark or in a list', async () => {
    for (const pytestmark of ['pytest_parallel.mark.parallel(2)', '[pytest.mark.slow, pytest_parallel.mark.parallel(2)]']) {
      const { tests } = await discover(`
        import pytest
        import pytest_parallel

        pytestmark = ${pytestmark}

        def test_module_level(comm):
            pass

        class TestGroup:
            def test_in_class(self, comm):
                pass
      `);
      assert.deepEqual(tests.map(t => [t.id, t.ranks]), [
        ['tests/test_x.py::test_module_level[2]', 2],
        ['tests/test_x.py::TestGroup::test_in_class[2]', 2],
      ]);
    }
  });

  test('class pytestmark and class decorators', async () => {
    const { tests } = await discover(`
      import pytest_parallel

      class TestBody:
          pytestmark = pytest_parallel.mark.parallel([3, 5])

          def test_in_class(self, comm):
              pass

      @pytest_parallel.mark.parallel(4)
      class TestDecorated:
          def test_decorated(self, comm):
              pass

      def test_outside():
          pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.framework]), [
      ['tests/test_x.py::TestBody::test_in_class[3]', 3, 'pytest_parallel'],
      ['tests/test_x.py::TestBody::test_in_class[5]', 5, 'pytest_parallel'],
      ['tests/test_x.py::TestDecorated::test_decorated[4]', 4, 'pytest_parallel'],
      ['tests/test_x.py::test_outside', 1, 'pytest'],
    ]);
  });

  test('with parametrize: ids in the order pytest applies marks, ranks per id', async () => {
    const { tests } = await discover(`
      import pytest
      import pytest_parallel

      @pytest_parallel.mark.parallel([2, 4])
      @pytest.mark.parametrize("flag", [False, True])
      def test_x(comm, flag):
          pass
    `);
    assert.deepEqual(tests.map(t => [t.label, t.ranks, t.groupId]), [
      ['test_x[False-2]', 2, 'tests/test_x.py::test_x'],
      ['test_x[False-4]', 4, 'tests/test_x.py::test_x'],
      ['test_x[True-2]', 2, 'tests/test_x.py::test_x'],
      ['test_x[True-4]', 4, 'tests/test_x.py::test_x'],
    ]);
  });

  test('a count from a module constant is resolved; anything else is dynamic', async () => {
    const { tests, diagnostics } = await discover(`
      import pytest_parallel
      from config import N_PROCS

      N = 4
      COUNTS = [2, N]

      @pytest_parallel.mark.parallel(N)
      def test_constant(comm):
          pass

      @pytest_parallel.mark.parallel(COUNTS)
      def test_constant_list(comm):
          pass

      @pytest_parallel.mark.parallel(N_PROCS)
      def test_imported(comm):
          pass

      @pytest_parallel.mark.parallel(get())
      def test_call(comm):
          pass
    `);
    assert.deepEqual(diagnostics, []);
    const found = byId(tests);
    assert.equal(found.get('tests/test_x.py::test_constant[4]')?.ranks, 4);
    assert.deepEqual(tests.filter(t => t.groupId === 'tests/test_x.py::test_constant_list').map(t => t.ranks), [2, 4]);
    assert.deepEqual(found.get('tests/test_x.py::test_imported'), {
      id: 'tests/test_x.py::test_imported', label: 'test_imported', file: 'tests/test_x.py', framework: 'pytest_parallel',
      range: { line: 16, column: 4, endLine: 16, endColumn: 17 }, ranks: null, dynamic: 'rank count `N_PROCS` is computed at run time',
    });
    assert.equal(found.get('tests/test_x.py::test_call')?.dynamic, 'rank count `get()` is computed at run time');
  });

  test('a count reassigned at module level is not trusted', async () => {
    const { tests } = await discover(`
      import pytest_parallel
      N = 2
      N += 1

      @pytest_parallel.mark.parallel(N)
      def test_x(comm):
          pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.dynamic]), [['tests/test_x.py::test_x', null, 'rank count `N` is computed at run time']]);
  });

  test('dynamic parameters keep a known single count', async () => {
    const { tests } = await discover(`
      import pytest
      import pytest_parallel

      @pytest_parallel.mark.parallel(2)
      @pytest.mark.parametrize("case", load_cases())
      def test_x(comm, case):
          pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.dynamic]), [['tests/test_x.py::test_x', 2, 'parameter values `load_cases()` are computed at run time']]);
  });
});

describe('invalid markers', () => {
  const cases: [string, string][] = [
    ['@pytest_parallel.mark.parallel(0)', 'pytest_parallel.mark.parallel: a rank count must be at least 1, got 0'],
    ['@pytest_parallel.mark.parallel(-2)', 'pytest_parallel.mark.parallel: a rank count must be at least 1, got -2'],
    ['@pytest_parallel.mark.parallel("x")', 'pytest_parallel.mark.parallel: a rank count must be a positive integer, got "x"'],
    ['@pytest_parallel.mark.parallel(2.0)', 'pytest_parallel.mark.parallel: a rank count must be a positive integer, got 2.0'],
    ['@pytest_parallel.mark.parallel([])', 'pytest_parallel.mark.parallel: the list of rank counts is empty'],
    ['@pytest_parallel.mark.parallel([2, "a"])', 'pytest_parallel.mark.parallel: a rank count must be a positive integer, got "a"'],
    ['@pytest_parallel.mark.parallel()', 'pytest_parallel.mark.parallel needs a rank count, e.g. parallel(2) or parallel([2, 4])'],
    ['@pytest_parallel.mark.parallel', 'pytest_parallel.mark.parallel needs a rank count, e.g. parallel(2) or parallel([2, 4])'],
    ['@pytest_parallel.mark.parallel(2, 3)', 'pytest_parallel.mark.parallel takes one argument: a rank count or a list of counts'],
    ['@pytest.mark.mpi(min_size=0)', 'pytest.mark.mpi: min_size must be at least 1, got 0'],
    ['@pytest.mark.mpi(min_size="x")', 'pytest.mark.mpi: min_size must be a positive integer, got "x"'],
  ];
  for (const [decorator, message] of cases) {
    test(decorator, async () => {
      const { tests, diagnostics } = await discover(`
        import pytest
        import pytest_parallel

        ${decorator}
        def test_x(comm):
            pass
      `);
      const marker = decorator.slice(1);
      assert.deepEqual(diagnostics, [{
        file: 'tests/test_x.py', severity: 'error', message,
        range: { line: 4, column: 1, endLine: 4, endColumn: 1 + marker.length },
      }]);
      assert.equal(tests.length, 1);
      assert.equal(tests[0].id, 'tests/test_x.py::test_x');
      assert.equal(tests[0].ranks, null);
      assert.equal(tests[0].invalid, message);
    });
  }

  test('an invalid module pytestmark marks every test and is reported once', async () => {
    const { tests, diagnostics } = await discover(`
      import pytest_parallel
      pytestmark = pytest_parallel.mark.parallel(0)

      def test_a(comm):
          pass

      def test_b(comm):
          pass
    `);
    assert.equal(diagnostics.length, 1);
    assert.deepEqual(diagnostics[0].range, { line: 2, column: 13, endLine: 2, endColumn: 45 });
    assert.deepEqual(tests.map(t => [t.id, t.invalid !== undefined]), [['tests/test_x.py::test_a', true], ['tests/test_x.py::test_b', true]]);
  });

  test('two parallel marks on one test', async () => {
    const { tests, diagnostics } = await discover(`
      import pytest_parallel
      pytestmark = pytest_parallel.mark.parallel(2)

      @pytest_parallel.mark.parallel(3)
      def test_x(comm):
          pass
    `);
    assert.equal(tests[0].invalid, 'more than one pytest_parallel.mark.parallel applies');
    assert.deepEqual(diagnostics.map(d => [d.severity, d.range.line]), [['error', 2]]);
  });

  test('repeated counts and positional mpi arguments are warnings', async () => {
    const { tests, diagnostics } = await discover(`
      import pytest
      import pytest_parallel

      @pytest_parallel.mark.parallel([2, 2])
      def test_repeat(comm):
          pass

      @pytest.mark.mpi(4)
      def test_positional():
          pass
    `);
    assert.deepEqual(diagnostics.map(d => [d.severity, d.range.line]), [['warning', 4], ['warning', 8]]);
    // pytest 7 names the repeats [20], [21], pytest 8+ [2_0], [2_1]: one placeholder, on the one count.
    assert.deepEqual(tests.map(t => [t.label, t.ranks, t.dynamic]), [
      ['test_repeat', 2, 'repeated ids 2: pytest 7 and pytest 8+ number them differently'], ['test_positional', 2, undefined],
    ]);
  });
});

describe('classes with bases from outside the project', () => {
  test('Generic[T] changes nothing; an unknown base makes parametrized methods placeholders and unnamed classes unsure', async () => {
    const { tests } = await discover(`
      from typing import Generic, TypeVar
      import pytest
      from somelib.testing import HelperBase

      T = TypeVar("T")

      class TestGeneric(Generic[T]):
          @pytest.mark.parametrize("n", [1, 2])
          def test_n(self, n):
              pass

      class TestWithHelper(HelperBase):
          def test_plain(self):
              pass

          @pytest.mark.parametrize("n", [1, 2])
          def test_n(self, n):
              pass

      class ChecksWithHelper(HelperBase):
          def test_maybe(self):
              pass
    `);
    assert.deepEqual(tests.map(t => [t.id.split('::').slice(1).join('::'), t.dynamic ?? null]), [
      ['TestGeneric::test_n[1]', null],
      ['TestGeneric::test_n[2]', null],
      ['TestWithHelper::test_plain', null],
      ['TestWithHelper::test_n', 'pytest parametrizes TestWithHelper only if its base somelib.testing.HelperBase derives from unittest.TestCase'],
      ['ChecksWithHelper::test_maybe', 'pytest collects ChecksWithHelper only if its base somelib.testing.HelperBase derives from unittest.TestCase'],
    ]);
  });
});

describe('mpi-pytest (firedrake)', () => {
  test('counts, the default of 3, hovers; a list off the function or bad arguments are errors', async () => {
    const p = await parser();
    const { discovery, markers } = p.discoverWithMarkers('tests/test_x.py', py(`
      import pytest

      @pytest.mark.parallel
      def test_default():
          pass

      @pytest.mark.parallel(nprocs=[1, 3])
      def test_list():
          pass

      @pytest.mark.parallel([2, 3])
      class TestOnClass:
          def test_in_class(self):
              pass

      @pytest.mark.parallel(2, nprocs=3)
      def test_bad():
          pass

      @pytest.mark.mpi_skip
      def test_not_under_mpi():
          pass
    `), baseConfig);
    assert.deepEqual(discovery.tests.map(t => [t.id.split('::').slice(1).join('::'), t.ranks, t.invalid ?? null]), [
      ['test_default', 3, null],
      ['test_list[nprocs=1]', 1, null],
      ['test_list[nprocs=3]', 3, null],
      ['TestOnClass::test_in_class', null, 'mpi-pytest: a list of counts works only in a parallel marker on the test function itself'],
      ['test_bad', null, 'pytest.mark.parallel (mpi-pytest): bad arguments; write parallel(N), parallel([N, M]) or parallel(nprocs=N)'],
      ['test_not_under_mpi', 1, null],
    ]);
    assert.deepEqual(markers.map(m => [m.range.line, m.summary]), [
      [3, "mpi-pytest: runs on 3 ranks (no count: the plugin's default)"],
      [7, 'mpi-pytest: runs on 1 and 3 ranks: one test per count'],
      [11, 'mpi-pytest: runs on 2 and 3 ranks: one test per count'],
      [16, 'pytest.mark.parallel (mpi-pytest): bad arguments; write parallel(N), parallel([N, M]) or parallel(nprocs=N)'],
      [20, 'pytest-mpi: skipped when pytest runs with --with-mpi; distest runs this test on 1 rank, without mpirun'],
    ]);
    assert.deepEqual(discovery.diagnostics.map(d => [d.severity, d.range.line]), [['error', 16]]);
  });
});

describe('pytest-mpi', () => {
  test('min_size, bare and empty markers, and the configured default', async () => {
    const config: DiscoveryConfig = { ...baseConfig, mpiDefaultRanks: 3 };
    const { tests, diagnostics } = await discover(`
      import pytest
      from pytest import mark

      @pytest.mark.mpi(min_size=4)
      def test_min_size():
          pass

      @pytest.mark.mpi
      def test_bare():
          pass

      @mark.mpi()
      def test_empty_call():
          pass

      @pytest.mark.parametrize("n", [1, 2])
      @pytest.mark.mpi(min_size=2)
      def test_parametrized(n):
          pass

      def test_plain():
          pass
    `, config);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.framework]), [
      ['tests/test_x.py::test_min_size', 4, 'pytest-mpi'],
      ['tests/test_x.py::test_bare', 3, 'pytest-mpi'],
      ['tests/test_x.py::test_empty_call', 3, 'pytest-mpi'],
      ['tests/test_x.py::test_parametrized[1]', 2, 'pytest-mpi'],
      ['tests/test_x.py::test_parametrized[2]', 2, 'pytest-mpi'],
      ['tests/test_x.py::test_plain', 1, 'pytest'],
    ]);
  });

  test('the marker on a class or in its pytestmark; the nearest min_size wins', async () => {
    const { tests } = await discover(`
      import pytest

      @pytest.mark.mpi(min_size=2)
      class TestDecorated:
          def test_a(self):
              pass

          @pytest.mark.mpi(min_size=5)
          def test_nearest(self):
              pass

      class TestBody:
          pytestmark = [pytest.mark.mpi(min_size=3)]

          def test_b(self):
              pass

          class TestNested:
              def test_c(self):
                  pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.className]), [
      ['tests/test_x.py::TestDecorated::test_a', 2, 'TestDecorated'],
      ['tests/test_x.py::TestDecorated::test_nearest', 5, 'TestDecorated'],
      ['tests/test_x.py::TestBody::test_b', 3, 'TestBody'],
      ['tests/test_x.py::TestBody::TestNested::test_c', 3, 'TestBody::TestNested'],
    ]);
  });

  test('a min_size from a variable is dynamic but the ids stay exact', async () => {
    const { tests } = await discover(`
      import os
      import pytest

      @pytest.mark.mpi(min_size=int(os.environ["RANKS"]))
      def test_x():
          pass
    `);
    assert.deepEqual(tests.map(t => [t.id, t.ranks, t.dynamic]), [['tests/test_x.py::test_x', null, 'min_size `int(os.environ["RANKS"])` is computed at run time']]);
  });
});

describe('unittest files under a launcher template', () => {
  const source = `
    import unittest
    from unittest import TestCase as Case

    class Base(unittest.TestCase):
        def test_base(self):
            pass

    class TestDerived(Base):
        def test_z(self):
            pass
        def test_a(self):
            pass
        def helper(self):
            pass

    class Imported(Case):
        def testNoUnderscore(self):
            pass

    class TestNotACase:
        def test_ignored(self):
            pass

    def test_function_ignored():
        pass
  `;

  test('TestCase subclasses and their test* methods, with the launcher and its ranks', async () => {
    const launcher = { glob: 'tests/launched/**', launcher: 'mpiexec -n {ranks} {python} {file}', ranks: 4 };
    const { tests } = await discover(source, { ...baseConfig, launchers: [launcher] }, 'tests/launched/test_world.py');
    assert.deepEqual(tests.map(t => [t.id, t.framework, t.ranks, t.dynamic, t.launcher]), [
      ['tests/launched/test_world.py::Base::test_base', 'unittest', 4, undefined, launcher],
      ['tests/launched/test_world.py::TestDerived::test_a', 'unittest', 4, undefined, launcher],
      ['tests/launched/test_world.py::TestDerived::test_base', 'unittest', 4, undefined, launcher],
      ['tests/launched/test_world.py::TestDerived::test_z', 'unittest', 4, undefined, launcher],
      ['tests/launched/test_world.py::Imported::testNoUnderscore', 'unittest', 4, undefined, launcher],
    ]);
  });

  test('a launcher that decides the rank count; a slash-free glob matches at any depth', async () => {
    const launcher = { glob: '*_mpi.py', launcher: 'dragon {file} -f -v', ranks: 0 };
    const config = { ...baseConfig, launchers: [launcher] };
    const { tests } = await discover(source, config, 'deep/down/world_mpi.py');
    assert.equal(tests.length, 5);
    assert.ok(tests.every(t => t.ranks === null && t.dynamic === 'the launcher decides the rank count' && t.launcher === launcher));
  });

  test('files outside the glob are plain pytest files', async () => {
    const launcher = { glob: 'tests/launched/**', launcher: 'mpiexec -n {ranks} {python} {file}', ranks: 2 };
    const { tests } = await discover(source, { ...baseConfig, launchers: [launcher] }, 'tests/test_world.py');
    assert.ok(tests.every(t => t.framework === 'pytest' && t.launcher === undefined));
    assert.ok(tests.some(t => t.id === 'tests/test_world.py::test_function_ignored'));
  });
});

describe('robustness and positions', () => {
  test('syntax errors: what still parses is discovered, nothing throws', async () => {
    const { tests } = await discover(`
      import pytest_parallel

      def test_before():
          pass

      def broken(:
          pass

      @pytest_parallel.mark.parallel(2)
      def test_after(comm):
          return [
    `);
    assert.deepEqual(tests.map(t => t.id), ['tests/test_x.py::test_before', 'tests/test_x.py::test_after[2]']);
    for (const garbage of ['', '\0\0\0', 'def', '@', 'class Test', ')))(((', 'def test_(', '\ud800']) {
      assert.ok(Array.isArray((await parser()).discover('tests/test_x.py', garbage, baseConfig).tests));
    }
  });

  test('the range is the name on the def line, below the decorators', async () => {
    const { tests } = await discover(`
      import pytest_parallel

      @pytest_parallel.mark.parallel(
          [2, 3],
      )
      async def test_spread(comm):
          pass
    `);
    assert.deepEqual(tests[0].range, { line: 6, column: 10, endLine: 6, endColumn: 21 });
  });

  test('hover summaries say how many ranks a marker means', async () => {
    const p = await parser();
    const { markers } = p.discoverWithMarkers('tests/test_x.py', py(`
      import pytest
      import pytest_parallel

      @pytest_parallel.mark.parallel([2, 4])
      def test_a(comm):
          pass

      @pytest.mark.mpi
      def test_b():
          pass

      @pytest_parallel.mark.parallel(1)
      def test_c(comm):
          pass
    `), baseConfig);
    assert.deepEqual(markers.map(m => [m.range.line, m.summary]), [
      [4, 'pytest_parallel: runs on 2 and 4 ranks: one test per count'],
      [8, 'pytest-mpi: runs on 2 ranks (no min_size: the default rank count)'],
      [12, 'pytest_parallel: runs on 1 rank'],
    ]);
  });
});

describe('modules that make names at run time', () => {
  const runtime = (diagnostics: { code?: string; range: { line: number } }[]) => diagnostics.filter(d => d.code === 'runtime-names').map(d => d.range.line);

  test('one note, at the first statement or the function the import runs', async () => {
    assert.deepEqual(runtime((await discover(`
      for size in (2, 4):
          globals()[f"TestSize{size}"] = type("T", (), {})
      exec("def test_x(): pass")
    `)).diagnostics), [2]);
    assert.deepEqual(runtime((await discover(`
      def variants(cls):
          globals()["Test" + cls.__name__] = cls
          return cls

      @variants
      class _Case:
          pass
    `)).diagnostics), [1]);
  });

  test('exec into a namespace, and a test that adds names while it runs, make nothing pytest collects', async () => {
    assert.deepEqual(runtime((await discover(`
      ENV = {}
      exec("from math import *", ENV)

      def helper():
          globals()["late"] = 1

      def test_adds_at_run_time():
          globals()["test_late"] = lambda: None
    `)).diagnostics), []);
  });
});
