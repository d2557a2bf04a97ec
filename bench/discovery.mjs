// Discovery benchmark: distest's static discovery (a fresh Node process, wasm load included) against
// `pytest --collect-only` on the same generated tree of 5,000 test files. Both must find the same tests.
// Cold: no cache. Warm: a fresh process with the discovery cache a previous process filled (a workspace
// reopened), until its listing is checked against the disk; first: a fresh process reading only the listing the
// cache holds (what the language server answers a reopened workspace at once, before that check). Edit: in that process, one changed file rediscovered and its cache entry replaced (what the
// language server does on a save), over several files.
// Command: `distest list --json` itself, into an empty discovery cache (a user's first listing of the project).
// Last stdout line: {"files", "tests", "distestMs" (cold), "warmMs", "firstListingMs", "editMs" (median), "editFirstMs",
// "cliColdMs", "pytestMs", "ratio" (pytest / cold), "warmRatio", "editRatio"}.
// `--distest-only` skips pytest (minutes) while iterating on distest itself.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { discoveryVersionDefine } from '../scripts/discoveryVersion.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const benchDir = path.join(root, '.bench');
const treeDir = path.join(benchDir, 'tree');
const entryJs = path.join(benchDir, 'discovery-entry.js');
const PYTHON = '/usr/bin/python3';
const FILES = 5000;
const DISTEST_RUNS = 5;
// Bump when the generated files change, so an old tree is regenerated instead of reused.
const GENERATOR_VERSION = '4';

await esbuild.build({
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  entryPoints: [path.join(root, 'bench/discovery-entry.ts')], outfile: entryJs, define: discoveryVersionDefine(root),
});
if (!fs.existsSync(path.join(root, 'dist/tree-sitter-python.wasm'))) throw new Error('dist/*.wasm missing: run node scripts/build.mjs first');

generateTree();
// distest's processes start as the extension starts the language server: its node flags, its environment.
const { DISCOVERY_NODE_FLAGS, startWithoutExtraCaCerts } = createRequire(import.meta.url)(entryJs);
const serverEnv = { ...process.env, ...startWithoutExtraCaCerts() };
const distest = timeDistest();
const cached = timeCached(distest.ids);
const cli = timeCli(distest.ids);
if (process.argv.includes('--distest-only')) {
  console.log(`distest: ${distest.files} files, ${distest.tests} tests, ${distest.ms.toFixed(0)} ms cold (runs: ${distest.runs.map(r => r.toFixed(0)).join(', ')} ms)`);
  console.log(`command:  ${cli.ms.toFixed(0)} ms for a first \`distest list --json\` (runs: ${cli.runs.map(r => r.toFixed(0)).join(', ')} ms)`);
  console.log(`cache:    ${cached.warmMs.toFixed(0)} ms warm (runs: ${cached.warmRuns.map(r => r.toFixed(0)).join(', ')} ms), first listing ${cached.firstMs.toFixed(0)} ms (runs: ${cached.firstRuns.map(r => r.toFixed(0)).join(', ')} ms), edit ${cached.editMs.toFixed(1)} ms median (first ${cached.editFirstMs.toFixed(1)} ms)`);
  process.exit(0);
}
const pytest = timePytest();

const pytestIds = new Set(pytest.ids);
const distestIds = new Set(distest.ids);
const onlyDistest = distest.ids.filter(id => !pytestIds.has(id));
const onlyPytest = pytest.ids.filter(id => !distestIds.has(id));
const ratio = pytest.ms / distest.ms;

console.log(`tree:     ${treeDir} (${distest.files} test files)`);
console.log(`distest:  ${distest.tests} tests, ${distest.ms.toFixed(0)} ms cold (median of ${DISTEST_RUNS} fresh processes: ${distest.runs.map(r => r.toFixed(0)).join(', ')} ms; last run in-process: wasm load ${distest.wasmMs.toFixed(0)} ms, total ${distest.totalMs.toFixed(0)} ms)`);
console.log(`pytest:   ${pytest.tests} tests collected, ${pytest.ms.toFixed(0)} ms (${PYTHON} -m pytest --collect-only -q -p no:cacheprovider)`);
console.log(`ids:      ${onlyDistest.length} only in distest, ${onlyPytest.length} only in pytest${onlyDistest.length + onlyPytest.length ? `: e.g. ${[...onlyDistest, ...onlyPytest].slice(0, 3).join(', ')}` : ' (identical)'}`);
console.log(`cache:    ${cached.warmMs.toFixed(0)} ms warm (median of ${DISTEST_RUNS} fresh processes: ${cached.warmRuns.map(r => r.toFixed(0)).join(', ')} ms), same ids; first listing (cached, unchecked) ${cached.firstMs.toFixed(0)} ms (median of ${DISTEST_RUNS}: ${cached.firstRuns.map(r => r.toFixed(0)).join(', ')} ms); one-file edit ${cached.editMs.toFixed(1)} ms median of ${cached.edits} (first ${cached.editFirstMs.toFixed(1)} ms)`);
console.log(`command:  \`distest list --json\` into an empty discovery cache: ${cli.ms.toFixed(0)} ms (median of ${DISTEST_RUNS}: ${cli.runs.map(r => r.toFixed(0)).join(', ')} ms), same ids`);
console.log(`ratio:    distest is ${ratio.toFixed(1)}x faster than pytest collection cold, ${(pytest.ms / cached.warmMs).toFixed(1)}x warm`);
if (distest.tests !== pytest.tests) console.log(`WARNING: test counts differ (distest ${distest.tests}, pytest ${pytest.tests})`);
console.log(JSON.stringify({
  files: distest.files, tests: distest.tests, distestMs: Math.round(distest.ms), warmMs: Math.round(cached.warmMs), firstListingMs: Math.round(cached.firstMs),
  editMs: Number(cached.editMs.toFixed(1)), editFirstMs: Number(cached.editFirstMs.toFixed(1)), pytestMs: Math.round(pytest.ms),
  cliColdMs: Math.round(cli.ms), ratio: Number(ratio.toFixed(1)), warmRatio: Number((pytest.ms / cached.warmMs).toFixed(1)), editRatio: Math.round(pytest.ms / cached.editMs),
}));

function timeDistest() {
  const runs = [];
  let last;
  for (let i = 0; i < DISTEST_RUNS; i++) {
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [...DISCOVERY_NODE_FLAGS, entryJs, treeDir, ...(i === 0 ? ['--ids'] : [])], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: serverEnv });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (child.status !== 0) throw new Error(`distest discovery failed: ${child.stderr}`);
    const result = JSON.parse(child.stdout);
    if (i === 0) last = result;
    else last = { ...result, ids: last.ids };
    runs.push(ms);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { ...last, ms: sorted[Math.floor(sorted.length / 2)], runs };
}

/** Fills a fresh cache (not timed), then times warm processes; the last one also times edits. */
function timeCached(coldIds) {
  const cacheDir = path.join(benchDir, 'cache');
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const run = (extra) => {
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [...DISCOVERY_NODE_FLAGS, entryJs, treeDir, '--cache', cacheDir, ...extra], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: serverEnv });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (child.status !== 0) throw new Error(`distest discovery with the cache failed: ${child.stderr}`);
    return { ms, result: JSON.parse(child.stdout) };
  };
  run([]);
  const warmRuns = [];
  for (let i = 0; i < DISTEST_RUNS; i++) {
    const { ms, result } = run(i === 0 ? ['--ids'] : []);
    if (i === 0 && JSON.stringify(result.ids) !== JSON.stringify(coldIds)) throw new Error('the warm cache lists other ids than cold discovery');
    warmRuns.push(ms);
  }
  const firstRuns = [];
  for (let i = 0; i < DISTEST_RUNS; i++) {
    const { ms, result } = run(['--first', ...(i === 0 ? ['--ids'] : [])]);
    if (i === 0 && JSON.stringify(result.ids) !== JSON.stringify(coldIds)) throw new Error('the cached listing holds other ids than cold discovery');
    firstRuns.push(ms);
  }
  const editFiles = Array.from({ length: 9 }, (_, i) => { const n = 17 + i * 541; return `pkg_${n % 40}/area_${Math.floor(n / 40) % 25}/test_mod_${n}.py`; });
  const { result } = run(['--edit', editFiles.join(',')]);
  const edits = [...result.editsMs].sort((a, b) => a - b);
  return { warmMs: median(warmRuns), warmRuns, firstMs: median(firstRuns), firstRuns, editMs: edits[Math.floor(edits.length / 2)], editFirstMs: result.editsMs[0], edits: edits.length };
}

/**
 * The command a user types first on a project: `distest list --json` with the default settings, so its
 * discovery also fills the (emptied) discovery cache; node's and the command's own V8 caches are warm.
 */
function timeCli(coldIds) {
  const cacheHome = path.join(benchDir, 'cli-cache');
  const command = path.join(root, 'dist/distest');
  const runs = [];
  for (let i = 0; i <= DISTEST_RUNS; i++) {
    for (const name of fs.existsSync(path.join(cacheHome, 'distest')) ? fs.readdirSync(path.join(cacheHome, 'distest')) : []) {
      if (name.startsWith('discovery-')) fs.rmSync(path.join(cacheHome, 'distest', name), { force: true });
    }
    const started = process.hrtime.bigint();
    const child = spawnSync(command, ['list', treeDir, '--json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, XDG_CACHE_HOME: cacheHome } });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (child.status !== 0) throw new Error(`distest list failed: ${child.stderr}`);
    // The first run writes the command's V8 code cache (a user's first command ever) and is not counted.
    if (i === 0) {
      if (JSON.stringify(JSON.parse(child.stdout).map(t => t.id)) !== JSON.stringify(coldIds)) throw new Error('distest list lists other ids than cold discovery');
      continue;
    }
    runs.push(ms);
  }
  return { ms: median(runs), runs };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timePytest() {
  const started = process.hrtime.bigint();
  const child = spawnSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', '--color=no'], {
    cwd: treeDir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const summary = /(\d+) tests? collected/.exec(child.stdout);
  if (!summary) throw new Error(`pytest collection failed (exit ${child.status}):\n${child.stdout.slice(-3000)}\n${child.stderr.slice(-3000)}`);
  const ids = child.stdout.split('\n').filter(l => l.includes('::')).map(l => l.trim());
  return { ms, tests: Number(summary[1]), ids };
}

/** Writes the tree once; a stamp file lets later runs reuse it. */
function generateTree() {
  const stamp = path.join(treeDir, '.generator');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === `${GENERATOR_VERSION}/${FILES}`) return;
  fs.rmSync(treeDir, { recursive: true, force: true });
  fs.mkdirSync(treeDir, { recursive: true });
  // pytest_parallel is not installable here; the fixture project's stand-in implements its marker.
  fs.cpSync(path.join(root, 'test/fixtures/mpi-project/pytest_parallel'), path.join(treeDir, 'pytest_parallel'), { recursive: true });
  fs.writeFileSync(path.join(treeDir, 'conftest.py'), 'pytest_plugins = ["pytest_parallel.plugin"]\n');
  fs.writeFileSync(path.join(treeDir, 'pytest.ini'), '[pytest]\n');
  const random = mulberry32(20240611);
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(treeDir, `pkg_${i % 40}`, `area_${Math.floor(i / 40) % 25}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `test_mod_${i}.py`), testFile(i, random));
  }
  fs.writeFileSync(stamp, `${GENERATOR_VERSION}/${FILES}`);
}

function testFile(index, random) {
  const pick = list => list[Math.floor(random() * list.length)];
  const lines = ['import pytest', 'import pytest_parallel', 'from pytest_parallel import mark as pmark', '', `N_RANKS = ${pick([2, 3, 4])}`, ''];
  const kinds = [
    n => ['@pytest_parallel.mark.parallel(2)', `def test_single_${n}(comm):`, '    assert comm.Get_size() == 2'],
    n => [`@pmark.parallel([2, ${pick([3, 4])}])`, `def test_list_${n}(comm):`, '    assert comm is not None'],
    n => ['@pytest_parallel.mark.parallel(N_RANKS)', '@pytest.mark.parametrize("flag", [False, True])', `def test_param_${n}(comm, flag):`, '    assert flag in (False, True)'],
    n => [`@pytest.mark.mpi(min_size=${pick([2, 4])})`, `def test_mpi_${n}():`, '    values = [i * i for i in range(10)]', '    assert sum(values) == 285'],
    n => ['@pytest.mark.mpi', `def test_mpi_bare_${n}():`, '    pass'],
    n => [`def test_plain_${n}():`, '    """A serial test."""', '    assert "x" * 3 == "xxx"'],
    n => ['@pytest.mark.parametrize("size, expected", [(1, 1), (2, 4), pytest.param(3, 9, id="three")])', `def test_square_${n}(size, expected):`, '    assert size * size == expected'],
  ];
  // About six tests per file: a definition expands to 1.6 tests on average, a class to three.
  const count = 3 + Math.floor(random() * 2);
  for (let t = 0; t < count; t++) lines.push(...pick(kinds)(`${index}_${t}`), '', '');
  if (index % 3 === 0) {
    lines.push(`class TestGroup${index}:`, '    pytestmark = pytest.mark.mpi(min_size=2)', '');
    lines.push('    def test_first(self):', '        assert True', '');
    lines.push('    @pytest.mark.parametrize("n", [1, 2])', '    def test_second(self, n):', '        assert n > 0', '');
  }
  return lines.join('\n');
}

function mulberry32(seed) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
