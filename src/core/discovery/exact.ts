// Exact discovery: what static parsing cannot know (computed parameter lists, ids callables, rank counts
// from variables, bases from outside the project) asked of pytest itself. `python -m pytest --collect-only`
// runs with the agent's collection hook (agent/distest_collect.py) on just the files that hold dynamic
// items, and its items replace those files' static listing; a collection error becomes a diagnostic.
// The same collection without files is `distest list --verify`'s full comparison. Runs on this machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assetDir } from '../assets';
import { testName, type FileDiscovery, type Framework, type MarkerDiagnostic, type TestSpec } from '../types';

/** One item pytest collected, as the hook reports it (ids and files relative to the workspace folder). */
export interface CollectedItem {
  id: string;
  file: string;
  line: number;
  name: string;
  cls?: string;
  /** pytest_parallel's `comm` parameter. */
  comm?: number;
  /** mpi-pytest's `parallel` marker counts (null: arguments the plugin rejects). */
  nprocs?: number[] | null;
  /** pytest-mpi's `mpi` marker and its `min_size` (null: none given). */
  mpi?: boolean;
  min_size?: number | null;
  timeout?: number;
}

export interface CollectionError { id: string; file: string; line: number; message: string; skipped?: boolean }

export interface ExactCollection {
  items: CollectedItem[];
  errors: CollectionError[];
  /** Why pytest gave no answer at all (not installed, a usage error, killed): nothing was resolved. */
  failure?: string;
  ms: number;
}

export interface ExactOptions {
  /** The ranks' python (a name on PATH or a path). */
  python: string;
  /** Rank count for a bare `@pytest.mark.mpi`. */
  mpiDefaultRanks: number;
  /** Kills pytest after this long (default 120 s, the editor's background pass). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The files whose tests only pytest can settle: they hold a dynamic item it collects, or the module makes
 * names at run time (no launcher file, no syntax error, no conftest.py).
 */
export function filesToResolve(files: FileDiscovery[]): string[] {
  const pytestsFile = (f: FileDiscovery) => !/(^|\/)conftest\.py$/.test(f.file) && !f.tests.some(t => t.launcher);
  return files
    .filter(f => !f.diagnostics.some(d => d.code === 'syntax-error'))
    .filter(f => f.tests.some(t => t.dynamic && !t.invalid && !t.launcher) || (f.diagnostics.some(d => d.code === 'runtime-names') && pytestsFile(f)))
    .map(f => f.file);
}

/** The test root a file's tests run from (TestSpec.testRoot), '' for the workspace folder. */
function testRootOf(file: FileDiscovery): string {
  return file.tests.find(t => t.testRoot)?.testRoot ?? '';
}

/**
 * pytest's collection of these files (FileDiscovery entries, usually filesToResolve's), one run per test
 * root they are in: from the folder their tests run from, on paths relative to it, as launches run them.
 */
export async function collectFiles(root: string, files: FileDiscovery[], opts: ExactOptions): Promise<ExactCollection> {
  const byRoot = new Map<string, string[]>();
  for (const file of files) {
    const testRoot = testRootOf(file);
    byRoot.set(testRoot, [...(byRoot.get(testRoot) ?? []), testRoot ? file.file.slice(testRoot.length + 1) : file.file]);
  }
  const runs: ExactCollection[] = [];
  for (const [testRoot, rels] of [...byRoot].sort()) runs.push(await collectWithPytest(root, testRoot, rels, opts));
  return merged(runs);
}

/**
 * pytest's full collection as distest's launches would see it: started in the workspace folder and in each
 * nested test root (given in `files`' tests), each without the nested roots below it.
 */
export async function collectProject(root: string, files: FileDiscovery[], opts: ExactOptions): Promise<ExactCollection> {
  const roots = [...new Set(['', ...files.map(testRootOf)])].sort();
  const runs: ExactCollection[] = [];
  for (const testRoot of roots) {
    const inside = roots.filter(r => r && r !== testRoot && (!testRoot || r.startsWith(`${testRoot}/`)));
    runs.push(await collectWithPytest(root, testRoot, undefined, opts, inside.map(r => `--ignore=${path.join(root, r)}`)));
  }
  return merged(runs);
}

function merged(runs: ExactCollection[]): ExactCollection {
  const failures = runs.map(r => r.failure).filter(Boolean);
  const result: ExactCollection = { items: runs.flatMap(r => r.items), errors: runs.flatMap(r => r.errors), ms: runs.reduce((n, r) => n + r.ms, 0) };
  if (failures.length) result.failure = failures.join('; ');
  return result;
}

/**
 * Runs `python -m pytest --collect-only` with the collection hook in `root`/`testRoot`: on `files`
 * (relative to that folder), or with pytest's own starting points when `files` is undefined. Ids come back
 * relative to `root`.
 */
export async function collectWithPytest(root: string, testRoot: string, files: string[] | undefined, opts: ExactOptions, extraArgs: string[] = []): Promise<ExactCollection> {
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distest-collect-'));
  const out = path.join(scratch, 'items.json');
  const agent = path.join(assetDir(), 'agent');
  const cwd = testRoot ? path.join(root, testRoot) : root;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: [agent, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    DISTEST_ROOT: root,
    DISTEST_COLLECT_OUT: out,
    // A background look must leave nothing behind in the project (pytest's rewritten .pyc files included).
    PYTHONDONTWRITEBYTECODE: '1',
  };
  delete env.DISTEST_TOKEN;
  const argv = [
    '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', '-p', 'distest_collect', ...(testRoot ? [`--rootdir=${cwd}`] : []), ...extraArgs,
    ...(files ?? []).map(f => (f.startsWith('-') ? `./${f}` : f)),
  ];
  try {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const { code, output, timedOut } = await run(opts.python, argv, cwd, env, timeoutMs, opts.signal);
    let parsed: { items: CollectedItem[]; errors: CollectionError[] } | undefined;
    try {
      parsed = JSON.parse(fs.readFileSync(out, 'utf8')) as { items: CollectedItem[]; errors: CollectionError[] };
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      const said = output.trim().split('\n').filter(l => l.trim()).slice(-3).join(' | ');
      const ended = timedOut ? `took longer than ${Math.round(timeoutMs / 1000)} s and was stopped` : code === null ? 'was stopped' : `exited with ${code}`;
      return { items: [], errors: [], failure: `${opts.python} -m pytest --collect-only ${ended}: ${said || 'no output'}`, ms: Date.now() - started };
    }
    return { items: parsed.items, errors: parsed.errors, ms: Date.now() - started };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise(resolve => {
    let output = '';
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    // pytest may start processes of its own (a conftest spawning, mpi4py's init): end the whole group.
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    signal?.addEventListener('abort', stop, { once: true });
    child.on('error', err => {
      output += String(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      resolve({ code: sig ? null : code, output, timedOut });
    });
  });
}

/** The rank count and framework the plugins launch an item with (what static discovery reads from the same markers). */
export function itemRanks(item: CollectedItem, mpiDefaultRanks: number): { ranks: number | null; framework: Framework; dynamic?: string } {
  if (item.nprocs !== undefined) {
    if (!item.nprocs?.length) return { ranks: null, framework: 'pytest_parallel', dynamic: 'the parallel marker has arguments mpi-pytest does not accept' };
    return { ranks: item.nprocs[0], framework: 'pytest_parallel' };
  }
  if (item.comm !== undefined) return { ranks: item.comm, framework: 'pytest_parallel' };
  if (item.mpi) return { ranks: item.min_size ?? mpiDefaultRanks, framework: 'pytest-mpi' };
  return { ranks: 1, framework: 'pytest' };
}

/** Whether a placeholder stands for an id: a function's parametrizations, or a class's tests. */
export function covers(placeholder: string, id: string): boolean {
  return id === placeholder || id.startsWith(`${placeholder}[`) || id.startsWith(`${placeholder}::`);
}

/**
 * A file's listing after pytest collected it: pytest's items, each with what static discovery knew of
 * it (its range, class, timeout) or of the placeholder that stood for it. A file pytest failed to collect
 * keeps its static listing, with pytest's error as a diagnostic at the line it names; a file pytest skips
 * at collection (importorskip) keeps it too, with the reason.
 */
export function applyExact(file: FileDiscovery, collection: ExactCollection, mpiDefaultRanks: number): FileDiscovery {
  const errors = collection.errors.filter(e => e.file === file.file);
  if (errors.length) {
    const diagnostics: MarkerDiagnostic[] = errors.map(e => ({
      file: file.file,
      range: { line: e.line, column: 0, endLine: e.line, endColumn: 1 },
      severity: e.skipped ? 'info' : 'error',
      message: e.skipped ? `pytest skips this file at collection: ${e.message}` : `pytest cannot collect this file: ${e.message}`,
    }));
    return { file: file.file, tests: file.tests, diagnostics: [...file.diagnostics, ...diagnostics] };
  }
  // pytest can make one id twice (pytest 7's duplicate-id suffixes); running it runs both, so it is one item here.
  const seen = new Set<string>();
  const items = collection.items.filter(i => i.file === file.file && !seen.has(i.id) && seen.add(i.id));
  const byId = new Map(file.tests.map(t => [t.id, t]));
  const placeholders = file.tests.filter(t => t.dynamic);
  const bases = new Map<string, number>();
  for (const item of items) bases.set(baseOf(item.id), (bases.get(baseOf(item.id)) ?? 0) + 1);
  const tests = items.map(item => {
    const known = byId.get(item.id);
    const stood = known ?? placeholders.find(p => covers(p.id, item.id));
    const { ranks, framework, dynamic } = itemRanks(item, mpiDefaultRanks);
    const test: TestSpec = {
      id: item.id,
      label: testName(item.id),
      file: file.file,
      range: stood?.range ?? { line: item.line, column: 0, endLine: item.line, endColumn: 0 },
      framework,
      ranks,
    };
    if ((bases.get(baseOf(item.id)) ?? 0) > 1) test.groupId = baseOf(item.id);
    if (dynamic) test.dynamic = dynamic;
    if (item.cls) test.className = item.cls;
    const timeout = item.timeout ?? stood?.timeoutSeconds;
    if (timeout) test.timeoutSeconds = timeout;
    return test;
  });
  return { file: file.file, tests, diagnostics: file.diagnostics };
}

/** An id without its parameter suffix (`f.py::test_x[2-a]` → `f.py::test_x`). */
function baseOf(id: string): string {
  const last = id.lastIndexOf('::');
  const bracket = id.indexOf('[', last);
  return bracket < 0 ? id : id.slice(0, bracket);
}

/** Every file's listing with pytest's answer for the files it was asked about; the others unchanged. */
export function applyExactAll(files: FileDiscovery[], asked: string[], collection: ExactCollection, mpiDefaultRanks: number): FileDiscovery[] {
  if (collection.failure) return files;
  const resolved = new Set(asked);
  return files.map(f => (resolved.has(f.file) ? applyExact(f, collection, mpiDefaultRanks) : f));
}

/** One difference between distest's listing and pytest's full collection. */
export interface Difference { kind: 'missing' | 'extra' | 'ranks'; id: string; detail?: string }

/**
 * A file pytest skipped at collection (`importorskip`, a module-level `pytest.skip`) or could not collect:
 * how many tests distest lists there.
 */
export interface Unverified { file: string; listed: number }

/**
 * What `distest list --verify` reports: ids pytest collects that distest neither lists nor covers with a
 * dynamic placeholder (missing), ids distest lists that pytest does not collect (extra), and rank counts
 * that differ from what the plugins launch with. Placeholders are no difference: `covered` counts the
 * ids they stand for. Nor are the tests of a file pytest skipped at collection or could not collect, which
 * only an environment with what the file needs can check: `unverified` counts them per file.
 */
export function compareWithPytest(tests: TestSpec[], collection: ExactCollection, mpiDefaultRanks: number): { differences: Difference[]; covered: number; matched: number; unverified: Unverified[] } {
  const collected = new Map(collection.items.map(i => [i.id, i]));
  const uncollected = new Map<string, Unverified>(collection.errors.map(error => [error.file, { file: error.file, listed: 0 }]));
  const listed = new Map<string, TestSpec>();
  const placeholders: TestSpec[] = [];
  for (const t of tests) {
    if (t.launcher) continue; // run by a launcher template, not by pytest
    const unverified = uncollected.get(t.file);
    if (unverified) {
      unverified.listed++;
      continue;
    }
    if (t.dynamic && !t.invalid && !collected.has(t.id)) placeholders.push(t);
    else listed.set(t.id, t);
  }
  const differences: Difference[] = [];
  let covered = 0;
  let matched = 0;
  for (const item of collection.items) {
    const test = listed.get(item.id);
    if (!test) {
      if (placeholders.some(p => covers(p.id, item.id))) covered++;
      else differences.push({ kind: 'missing', id: item.id });
      continue;
    }
    const { ranks } = itemRanks(item, mpiDefaultRanks);
    if (test.invalid || test.ranks === ranks) matched++;
    else differences.push({ kind: 'ranks', id: item.id, detail: `distest ${test.ranks ?? 'dynamic'}, pytest's plugins ${ranks ?? 'unknown'}` });
  }
  for (const id of listed.keys()) if (!collected.has(id)) differences.push({ kind: 'extra', id });
  for (const p of placeholders) if (!collection.items.some(i => covers(p.id, i.id))) differences.push({ kind: 'extra', id: p.id, detail: 'a dynamic placeholder pytest collects nothing for' });
  return { differences, covered, matched, unverified: [...uncollected.values()].filter(u => u.listed) };
}
