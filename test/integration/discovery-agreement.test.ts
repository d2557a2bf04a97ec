// Static discovery against pytest itself: every project under test/fixtures/agreement is collected by the
// real pytest (`--collect-only -q`, Debian's /usr/bin/python3, with the plugins installed or stubbed) and
// by discoverFolder; the id sets must be identical and the rank counts those the plugins launch with.
// Items distest cannot know statically must be listed as dynamic placeholders that cover pytest's ids
// (the `dynamic` list of each project below, by design of its fixture files). Then the exact pass
// (core/discovery/exact.ts: pytest's own collection of the files with dynamic items) must leave no
// placeholder and the same ids and rank counts as pytest's full collection.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DiscoveryCache } from '../../src/core/discovery/cache';
import type { DiscoveryConfig } from '../../src/core/discovery/config';
import { applyExactAll, collectFiles, filesToResolve } from '../../src/core/discovery/exact';
import { discoverFolder } from '../../src/core/discovery/folder';
import { PythonTestParser } from '../../src/core/discovery/parser';
import type { FileDiscovery, TestSpec } from '../../src/core/types';

const REPO = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(REPO, 'test/fixtures/agreement');
const PROBE = path.join(FIXTURES, 'probe');
const PYTHON = '/usr/bin/python3';
const CONFIG: DiscoveryConfig = { launchers: [], mpiDefaultRanks: 2 };

/** What the probe plugin records per collected item (see probe/distest_agreement_probe.py). */
interface ProbeRecord { id: string; nprocs?: number; min_size?: number | null; comm?: number }

interface Collected { ids: string[]; probe: Map<string, ProbeRecord> }

/**
 * pytest's collection, started where distest runs the tests: in the project and in each nested test root
 * (a folder with its own configuration file, `testRoots`), each without the roots below it; ids of a
 * nested root's tests prefixed with its path, as distest names them.
 */
function collectWithPytest(root: string, testRoots: string[]): Collected {
  const probeFile = path.join(scratch, '.probe.json');
  const collected: Collected = { ids: [], probe: new Map() };
  for (const testRoot of ['', ...testRoots]) {
    const inside = testRoots.filter(r => r !== testRoot && (!testRoot || r.startsWith(`${testRoot}/`)));
    const result = spawnSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', '-p', 'distest_agreement_probe', ...inside.map(r => `--ignore=${path.join(root, r)}`)], {
      cwd: path.join(root, testRoot),
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: PROBE, PYTHONDONTWRITEBYTECODE: '1', DISTEST_PROBE_OUT: probeFile, PYTEST_ADDOPTS: '' },
    });
    assert.equal(result.status, 0, `pytest --collect-only failed in ${path.join(root, testRoot)}:\n${result.stdout}\n${result.stderr}`);
    const prefix = testRoot ? `${testRoot}/` : '';
    collected.ids.push(...result.stdout.split('\n').map(l => l.trim()).filter(l => l.includes('::')).map(id => prefix + id));
    for (const record of JSON.parse(fs.readFileSync(probeFile, 'utf8')) as ProbeRecord[]) collected.probe.set(prefix + record.id, { ...record, id: prefix + record.id });
  }
  return collected;
}

/** The rank count each plugin launches an item with (pytest-mpi's bare marker: distest's default). */
function launchedRanks(record: ProbeRecord): number {
  if (record.nprocs !== undefined) return record.nprocs;
  if (record.comm !== undefined) return record.comm;
  if (record.min_size !== undefined) return record.min_size ?? CONFIG.mpiDefaultRanks;
  return 1;
}

interface Project {
  name: string;
  /** Placeholders distest must list as dynamic (ids of functions whose parametrization only the run knows). */
  dynamic: string[];
  /** Folders with a configuration file of their own, where pytest runs their tests (TestSpec.testRoot). */
  testRoots?: string[];
  /** Diagnostics distest must report: file and a piece of the message. */
  diagnostics?: [string, RegExp][];
  /** Files whose module makes names at run time: their tests are pytest's to list, in the exact pass. */
  runtime?: string[];
}

const PROJECTS: Project[] = [
  {
    name: 'config',
    dynamic: [],
    testRoots: ['tests/sub'],
    diagnostics: [
      ['conftest.py', /collect_ignore is changed here at run time/],
    ],
  },
  // Nested configuration files: setup.cfg with a pytest section, a pytest.ini inside that, and a setup.cfg
  // without one (no test root).
  { name: 'nested', dynamic: [], testRoots: ['pkg', 'pkg/inner'] },
  { name: 'toml', dynamic: [] },
  { name: 'cfg', dynamic: [] },
  { name: 'tox', dynamic: [] },
  { name: 'unittest', dynamic: ['tests/test_generated.py::GeneratedCase'] },
  {
    name: 'params',
    dynamic: [
      'tests/test_values.py::test_duplicates_differ_by_version',
      'tests/test_values.py::test_int_enum',
      'tests/test_values.py::test_unknown_call',
      'tests/test_values.py::test_ids_callable',
      'tests/test_values.py::test_str_calls',
      'tests/test_kept.py::TestComputedBase',
      'tests/test_kept.py::test_called_value',
      'tests/test_kept.py::test_called_imported_value',
      'tests/test_fallbacks.py::test_cases',
      'tests/test_fallbacks.py::test_datasets',
      'tests/test_fallbacks.py::test_element_of_changed_list',
      'tests/test_conditions.py::TestNeedsJson::test_a',
      'tests/test_conditions.py::TestVersions::test_py3',
    ],
  },
  { name: 'fixtures', dynamic: ['tests/test_use.py::test_computed_ids', 'tests/gen/test_gen.py::test_generated'] },
  { name: 'mpi', dynamic: [] },
  {
    name: 'dynamic',
    dynamic: [
      'tests/test_computed.py::test_imported_list',
      'tests/test_computed.py::test_comprehension',
      'tests/test_computed.py::test_ids_callable',
      'tests/test_computed.py::test_lambda_ids',
      'tests/test_computed.py::test_rank_count_from_variable',
    ],
  },
  {
    name: 'runtime',
    dynamic: [],
    runtime: ['tests/test_runtime_names.py', 'tests/test_decorated.py'],
    diagnostics: [['tests/test_runtime_names.py', /adds names at run time/], ['tests/test_decorated.py', /make_variants adds names to this module at run time/]],
  },
];

const totals = { matched: 0, pytest: 0, ranksMatched: 0, ranksChecked: 0, dynamic: 0, exact: 0, exactFiles: 0, unique: 0 };
let parser: PythonTestParser;
let scratch: string;

before(async () => {
  parser = await PythonTestParser.create();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-agreement-'));
});

after(() => {
  parser.dispose();
  fs.rmSync(scratch, { recursive: true, force: true });
  // The numbers the issue asks for, in the test log.
  console.log(`agreement: ${totals.matched}/${totals.pytest} pytest ids listed exactly (${totals.dynamic} more under dynamic placeholders), ` +
    `rank counts ${totals.ranksMatched}/${totals.ranksChecked}; after the exact pass (${totals.exactFiles} files) ${totals.exact}/${totals.unique} distinct ids exactly`);
});

describe('distest lists what pytest collects', () => {
  for (const project of PROJECTS) {
    test(project.name, async () => {
      // A copy outside the repository, so that no configuration file above it takes part.
      const root = path.join(scratch, project.name);
      fs.cpSync(path.join(FIXTURES, project.name), root, { recursive: true });
      const collected = collectWithPytest(root, project.testRoots ?? []);
      const files = await discoverFolder(root, CONFIG, parser);
      // The discovery cache changes nothing: filled (cold), then read back by a fresh process's cache (warm).
      const cacheDir = path.join(scratch, `${project.name}.cache`);
      const cold = new DiscoveryCache({ dir: cacheDir });
      assert.deepEqual(await discoverFolder(root, CONFIG, parser, { cache: cold }), files, `${project.name}: cold with a cache`);
      const warm = new DiscoveryCache({ dir: cacheDir });
      assert.deepEqual(await discoverFolder(root, CONFIG, parser, { cache: warm }), files, `${project.name}: warm cache`);
      assert.equal(warm.opened(root)?.hits, cold.opened(root)?.size, `${project.name}: every test file from the warm cache`);
      const tests = files.flatMap(f => f.tests);
      assert.deepEqual([...new Set(tests.map(t => t.testRoot).filter(Boolean))].sort(), project.testRoots ?? [], `${project.name}: test roots`);
      compare(project, collected, tests);
      for (const [file, message] of project.diagnostics ?? []) {
        assert.ok(diagnosticsOf(files, file).some(m => message.test(m)), `no diagnostic ${message} on ${file}: ${JSON.stringify(diagnosticsOf(files, file))}`);
      }

      // The exact pass, on just the files with placeholders: nothing dynamic left, every id and count pytest's.
      const asked = filesToResolve(files);
      let exact = tests;
      if (asked.length) {
        const collection = await collectFiles(root, files.filter(f => asked.includes(f.file)), { python: PYTHON, mpiDefaultRanks: CONFIG.mpiDefaultRanks });
        assert.equal(collection.failure, undefined);
        assert.deepEqual(collection.errors, []);
        exact = applyExactAll(files, asked, collection, CONFIG.mpiDefaultRanks).flatMap(f => f.tests);
      }
      assert.deepEqual(exact.filter(t => t.dynamic && !t.invalid).map(t => `${t.id}: ${t.dynamic}`), [], `${project.name}: dynamic after the exact pass`);
      compare({ name: `${project.name} (exact)`, dynamic: [] }, collected, exact, false);
      const unique = new Set(collected.ids);
      totals.unique += unique.size;
      totals.exact += exact.filter(t => unique.has(t.id)).length;
      totals.exactFiles += asked.length;
    });
  }
});

function diagnosticsOf(files: FileDiscovery[], file: string): string[] {
  return files.filter(f => f.file === file).flatMap(f => f.diagnostics.map(d => d.message));
}

/** `tally`: counts toward the static totals (the exact pass has its own). */
function compare(project: Project, collected: Collected, tests: TestSpec[], tally = true): void {
  const dynamic = tests.filter(t => t.dynamic && !t.invalid);
  const exact = tests.filter(t => !t.dynamic);
  // A function placeholder stands for its parametrizations, a class placeholder for the class's tests.
  const covers = (placeholder: string, id: string) => id === placeholder || id.startsWith(`${placeholder}[`) || id.startsWith(`${placeholder}::`);
  const runtime = (id: string) => (project.runtime ?? []).some(file => id.startsWith(`${file}::`));
  const covered = (id: string) => dynamic.some(d => covers(d.id, id)) || runtime(id);
  const expected = collected.ids.filter(id => !covered(id));
  const listed = exact.map(t => t.id);
  const missing = expected.filter(id => !listed.includes(id));
  const extra = listed.filter(id => !collected.ids.includes(id));
  if (tally) {
    totals.pytest += collected.ids.length;
    totals.matched += expected.length - missing.length;
    totals.dynamic += collected.ids.length - expected.length;
  }
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${project.name}: ids differ from pytest's`);
  assert.equal(new Set(listed).size, listed.length, `${project.name}: an id is listed twice`);
  assert.deepEqual(dynamic.map(d => d.id).sort(), [...project.dynamic].sort(), `${project.name}: dynamic placeholders (${dynamic.map(d => `${d.id}: ${d.dynamic}`).join('; ')})`);
  for (const placeholder of dynamic) {
    assert.ok(collected.ids.some(id => covers(placeholder.id, id)), `${placeholder.id} has no pytest counterpart`);
  }
  const wrongRanks: string[] = [];
  for (const t of exact) {
    const record = collected.probe.get(t.id);
    if (!record) continue;
    if (tally) totals.ranksChecked++;
    if (t.ranks === launchedRanks(record)) totals.ranksMatched += tally ? 1 : 0;
    else wrongRanks.push(`${t.id}: distest ${t.ranks}, plugin ${launchedRanks(record)}`);
  }
  assert.deepEqual(wrongRanks, [], `${project.name}: rank counts differ`);
}
