// Exact-resolution benchmark: 100 test files whose items static discovery can only list as dynamic
// (computed parameter lists, ids callables, rank counts from the environment), settled by distest's exact
// pass (`distest list --exact`: static discovery, then `pytest --collect-only` with the agent's hook on just
// those files), against a plain `pytest --collect-only` of the same files, in the same run. Both must
// find the same ids, and nothing may stay dynamic.
// Last stdout line: {"files", "tests", "staticMs", "exactMs", "pytestMs", "oneFileMs", "overhead"} with
// overhead = exactMs / pytestMs (what the exact pass costs over pytest's own collection of those files).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const treeDir = path.join(root, '.bench', 'exact-tree');
const CLI = path.join(root, 'dist/cli.js');
const PYTHON = '/usr/bin/python3';
const FILES = 100;
const RUNS = 3;

if (!fs.existsSync(CLI)) throw new Error('dist/cli.js missing: run node scripts/build.mjs first');
generateTree();
const env = { ...process.env, PYTEST_ADDOPTS: '' };
const staticRun = median(() => run(process.execPath, [CLI, 'list', treeDir, '--json']));
const exactRun = median(() => run(process.execPath, [CLI, 'list', treeDir, '--json', '--exact', '--python', PYTHON]));
const pytestRun = median(() => run(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', 'tests'], treeDir));
const oneFile = median(() => run(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', '-p', 'distest_collect', 'tests/test_dyn_0.py'], treeDir,
  { PYTHONPATH: path.join(root, 'dist/agent'), DISTEST_ROOT: treeDir, PYTHONDONTWRITEBYTECODE: '1' }));

const staticItems = JSON.parse(staticRun.stdout);
const exactItems = JSON.parse(exactRun.stdout);
const pytestIds = pytestRun.stdout.split('\n').filter(l => l.includes('::')).map(l => l.trim()).sort();
const exactIds = exactItems.map(i => i.id).sort();
const same = JSON.stringify(pytestIds) === JSON.stringify(exactIds);
const dynamicLeft = exactItems.filter(i => i.dynamic).length;
console.log(`tree:    ${treeDir} (${FILES} files with dynamic items)`);
console.log(`static:  ${staticItems.length} items, ${staticItems.filter(i => i.dynamic).length} dynamic, ${staticRun.ms.toFixed(0)} ms (distest list)`);
console.log(`exact:   ${exactItems.length} items, ${dynamicLeft} dynamic, ${exactRun.ms.toFixed(0)} ms (distest list --exact: static + pytest on the ${FILES} files)`);
console.log(`pytest:  ${pytestIds.length} items, ${pytestRun.ms.toFixed(0)} ms (${PYTHON} -m pytest --collect-only on the same files)`);
console.log(`one file: ${oneFile.ms.toFixed(0)} ms (the pass for one saved file: pytest with the hook on it)`);
console.log(`ids:     ${same ? 'identical' : 'DIFFER'}; medians of ${RUNS} runs each`);
if (!same || dynamicLeft) process.exitCode = 1;
console.log(JSON.stringify({
  files: FILES, tests: exactItems.length, staticMs: Math.round(staticRun.ms), exactMs: Math.round(exactRun.ms), pytestMs: Math.round(pytestRun.ms),
  oneFileMs: Math.round(oneFile.ms), overhead: Number((exactRun.ms / pytestRun.ms).toFixed(2)),
}));

function run(command, args, cwd = root, extra = {}) {
  const started = process.hrtime.bigint();
  const child = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...env, ...extra }, maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${child.status}): ${child.stderr.slice(-2000)}`);
  return { ms, stdout: child.stdout };
}

function median(measure) {
  const runs = Array.from({ length: RUNS }, measure).sort((a, b) => a.ms - b.ms);
  return runs[Math.floor(RUNS / 2)];
}

function generateTree() {
  fs.rmSync(treeDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(treeDir, 'tests'), { recursive: true });
  fs.writeFileSync(path.join(treeDir, 'pytest.ini'), '[pytest]\nmarkers =\n    mpi(min_size): pytest-mpi\n');
  fs.writeFileSync(path.join(treeDir, 'tests', '__init__.py'), '');
  fs.writeFileSync(path.join(treeDir, 'tests', 'values.py'), 'import itertools\nimport os\n\nSIZES = list(itertools.accumulate([4, 4, 4]))\nRANKS = int(os.environ.get("BENCH_RANKS", "2"))\n');
  for (let i = 0; i < FILES; i++) {
    fs.writeFileSync(path.join(treeDir, 'tests', `test_dyn_${i}.py`), [
      'import itertools', '', 'import pytest', '', 'from .values import RANKS, SIZES', '',
      `CASES = list(itertools.product(range(${2 + (i % 3)}), "ab"))`, '', '',
      '@pytest.mark.parametrize("size", SIZES)', `def test_sizes_${i}(size):`, '    pass', '', '',
      '@pytest.mark.parametrize("a,b", CASES)', `def test_cases_${i}(a, b):`, '    pass', '', '',
      '@pytest.mark.parametrize("v", [1, 2, 3], ids=lambda v: f"v{v}")', `def test_ids_${i}(v):`, '    pass', '', '',
      '@pytest.mark.mpi(min_size=RANKS)', `def test_ranks_${i}():`, '    pass', '', '',
      `def test_plain_${i}():`, '    pass', '',
    ].join('\n'));
  }
}
