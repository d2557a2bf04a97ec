// The `distest` command: list and run tests from a terminal or CI, through the same core the editor uses.
import fs from 'node:fs';
import path from 'node:path';
import { DiscoveryCache, tuneV8ForBulkParse } from './core/discovery/cache';
import { applyExactAll, collectFiles, collectProject, compareWithPytest, filesToResolve, type ExactCollection, type ExactOptions } from './core/discovery/exact';
import { discoverFolder, PrestartedHelpers, serveDiscoveryWorker } from './core/discovery/folder';
import { encodeFsName, lossyFsName } from './core/fsNames';
import { allocationLabel } from './core/allocation/allocation';
import { AllocationSpecError, formatAllocationSpec, parseAllocationSpec } from './core/allocation/spec';
import { junitXml, messageText } from './core/run/report';
import { debugRequest, runSession, type SessionOptions } from './core/run/session';
import { parseRankSelection, RankSelectionError, type DebugEndpoint, type DebugRequest } from './core/debug/request';
import { cliCacheHome } from './cacheHome';
import { listAllocations, resolveAllocation, type AllocationContext } from './core/allocation/resolve';
import { pythonFor, readFolderSettings, type DistestSettings } from './core/settings';
import { HostPool } from './core/transport/pool';
import { terminalPrompts } from './core/transport/ssh/prompt';
import type { SweepResult } from './core/faults/sweep';
import type { FileDiscovery, TestResult, TestSpec } from './core/types';
import { parseRankList } from './core/study/stats';
import { runRepeat, runScale, StudyError, type Study } from './core/study/study';
import { repeatText, scaleText } from './core/study/report';
import { scaleCsv } from './core/study/stats';
import { studySvg } from './core/study/chartSvg';

const USAGE = `usage:
  distest list [folder] [--json] [--exact | --verify] [--python P]
  distest run [folder] [id...] [options]
  distest allocations [folder] [--json]
  distest repeat [folder] ID [--count N] [--until-fail] [--json] [--out FILE] [--svg FILE] [run options]
  distest scale [folder] ID [--ranks 1,2,4,8] [--repeat K] [--weak] [--json|--csv] [--out FILE] [--svg FILE] [run options]
  distest chart STUDY.json [--svg FILE] [--csv]

  folder   the project root (default: the current folder); test ids are relative to it
  id       a test id (tests/test_x.py::test_y[2]), a file (tests/test_x.py), a prefix
           (tests/test_x.py::TestHalo, tests/multi_node/) or a test with all its rank counts (tests/test_x.py::test_sizes)

list options:
  --exact              settle dynamic items (computed parameters, ids callables, rank counts from variables) with
                       pytest's own collection (python -m pytest --collect-only) on just their files
  --verify             run pytest's full collection and print every difference from distest's listing (ids
                       missing or extra, rank counts); dynamic items are settled from the same collection.
                       Exit 1 when there is any difference or pytest cannot collect
  --python P           python for pytest in --exact / --verify (default: distest.pythonPath, else python3)

run options:
  --ranks N            rank count for tests whose count the marker leaves open (dynamic, pytest-mpi min_size, launcher files)
  --timeout S          seconds per test (unless @pytest.mark.timeout says) before every rank's stack is captured, the launch
                       killed and the test errored (default: distest.timeoutSeconds, 600)
  --jobs N             (run) launches at once on disjoint slots of the allocation (default: distest.parallelLaunches,
                       "auto": as many as fit; 1: one after another; Slurm, PBS and --debug run one at a time)
  --json               print results as JSON on stdout
  --junit FILE         also write JUnit XML to FILE
  --python P           python for the ranks (default: distest.pythonPath, else python3)
  --mpiexec P          mpirun/mpiexec to use (default: distest.mpiexecPath, else mpirun/mpiexec on PATH)
  --no-oversubscribe   skip tests that need more ranks than this machine has cores
  --allocation SPEC    where the ranks run (default: local):
                         local                       this machine (mpirun)
                         hosts:NODE[:SLOTS][,...]    SSH hosts, started by mpirun (slots: distest.hosts, else nproc)
                         slurm:JOBID | slurm:new     a running Slurm allocation (srun --overlap), or a new one (salloc)
                         pbs:JOBID | pbs:new         a running PBS job (PALS mpiexec on its first node), or a new one
                       optionally after a login host where the launcher or scheduler runs: login1/slurm:new.
                       An allocation created for the run is cancelled when it ends.
  --nodes N --tasks N --time MINUTES --partition P --account A
                       for slurm:new / pbs:new (default: distest.slurm.* / distest.pbs.*)
  --debug RANKS        debug run: the ranks RANKS names (all, 0, 0,2-3) start under debugpy (needs debugpy in the
                       ranks' python), listen on their node's loopback and wait for a DAP client; each is relayed to a
                       port on this machine's loopback. One JSON line per debugged rank as it listens:
                       {"rank":0,"node":"n1","host":"127.0.0.1","port":41234,"pid":1234,"launchId":...,"size":...}
                       Attach any DAP client to host:port ({"request":"attach"}); the other ranks run free.
                       Per-test timeouts and the silence watchdog stop while a rank is paused.
  --debug-endpoints FILE  append those lines to FILE instead of stderr
  --debug-wait S       seconds a debugged rank waits for a client before running on (default: distest.debug.waitSeconds, 300)

repeat launches one test N times (--count, default distest.repeat.count) or until it fails (--until-fail) and
reports its outcomes grouped (failing rank and message, hang stacks, crash signals), the failure rate with its
95% interval, the first failure and the duration spread. scale runs one test whose rank count is open at each
count (default 1, 2, 4, ... up to the allocation's slots) K times (--repeat, default distest.scale.repeat) and
prints the median test-body time, launch overhead, speedup and efficiency (--weak: time ratio). Both run on one
allocation for the whole study; --out writes the study JSON, --svg its chart (scale: time against ranks, repeat:
each iteration's launch time by outcome). chart prints a study that --out wrote as the run did and writes its
chart again (--svg); --csv prints a scale study's table as CSV.

allocations lists what --allocation accepts here: this machine, distest.hosts, and your Slurm / PBS jobs on
this machine and on each of distest.loginHosts (with state and time left).

Settings are read from <folder>/.vscode/settings.json (distest.*), like the editor does. Discovery results are
cached in $XDG_CACHE_HOME/distest (default ~/.cache/distest; distest.discovery.cache: false turns it off).
Exit codes: 0 all passed or skipped, 1 a test failed or errored, 2 bad usage, 130 interrupted (143 on SIGTERM).`;

class UsageError extends Error {
  constructor(message: string, readonly showUsage = true) {
    super(message);
  }
}

interface Parsed { positionals: string[]; flags: Map<string, string | true> }

const VALUE_FLAGS = new Set([
  '--ranks', '--timeout', '--junit', '--python', '--mpiexec', '--allocation', '--nodes', '--tasks', '--time', '--partition', '--account',
]);
/** `run` only: a study's iterations are not debugged (parseArgs refuses these there as unknown flags). */
const DEBUG_FLAGS = ['--debug', '--debug-endpoints', '--debug-wait'];

function parseArgs(args: string[], booleans: string[], values: string[]): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (values.includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      flags.set(name, value);
    } else if (booleans.includes(name) && eq < 0) {
      flags.set(name, true);
    } else {
      throw new UsageError(`unknown option ${arg}`);
    }
  }
  return { positionals, flags };
}

function numberFlag(p: Parsed, name: string, opts: { integer: boolean; min: number }): number | undefined {
  const raw = p.flags.get(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < opts.min || (opts.integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`${name} needs ${opts.integer ? 'a whole number' : 'a number'} ≥ ${opts.min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function stringFlag(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function loadSettings(root: string): DistestSettings {
  const { settings, problems } = readFolderSettings(root);
  for (const p of problems) process.stderr.write(`distest: warning: ${p}\n`);
  return settings;
}

interface Discovered {
  specs: TestSpec[];
  /** Line of the first syntax error, per file that has one: its tests will error at collection. */
  syntaxErrors: Map<string, number>;
}

async function discover(root: string, settings: DistestSettings, settle?: (files: FileDiscovery[]) => Promise<FileDiscovery[]>): Promise<Discovered> {
  // They load while the folder is walked and its cache read, for a folder that turns out to need them.
  const helpers = new PrestartedHelpers(__filename);
  const cache = settings.discoveryCache ? new DiscoveryCache({ dir: cliCacheHome(), log: line => process.stderr.write(`${line}\n`) }) : undefined;
  const found = await discoverFolder(root, { launchers: settings.launchers, mpiDefaultRanks: settings.mpiDefaultRanks }, undefined,
    { workerScript: __filename, cache, beforeBulkParse: tuneV8ForBulkParse, helpers });
  const files = settle ? await settle(found) : found;
  const syntaxErrors = new Map<string, number>();
  for (const f of files) {
    for (const d of f.diagnostics) {
      process.stderr.write(`${d.file}:${d.range.line}: ${d.severity}: ${d.message}\n`);
      if (d.code === 'syntax-error') syntaxErrors.set(f.file, d.range.line);
    }
  }
  return { specs: files.flatMap(f => f.tests), syntaxErrors };
}

async function listCommand(args: string[]): Promise<number> {
  const p = parseArgs(args, ['--json', '--exact', '--verify'], ['--python']);
  if (p.positionals.length > 1) throw new UsageError('list takes at most one folder');
  if (p.flags.has('--exact') && p.flags.has('--verify')) throw new UsageError('--verify settles dynamic items itself: give --exact or --verify');
  const root = path.resolve(p.positionals[0] ?? '.');
  if (!isDirectory(root)) throw new UsageError(`${p.positionals[0]} is not a folder`);
  const settings = loadSettings(root);
  // pytest's own collection of a large project takes minutes (sympy's: ~3 on 2 cores); Ctrl-C stops it.
  const exact = { python: stringFlag(p, '--python') || pythonFor(settings), mpiDefaultRanks: settings.mpiDefaultRanks, timeoutMs: 30 * 60_000 };
  if (p.flags.has('--verify')) return verifyListing(root, settings, exact);
  const settle = p.flags.has('--exact') ? async (files: FileDiscovery[]) => {
    const asked = filesToResolve(files);
    if (!asked.length) return files;
    const collection = await collectFiles(root, files.filter(f => asked.includes(f.file)), exact);
    reportCollection(collection, asked.length);
    return applyExactAll(files, asked, collection, exact.mpiDefaultRanks);
  } : undefined;
  const { specs, syntaxErrors } = await discover(root, settings, settle);
  if (p.flags.has('--json')) {
    const items = specs.map(s => ({
      id: s.id,
      file: s.file,
      line: s.range.line,
      framework: s.framework,
      ranks: s.ranks,
      dynamic: s.dynamic ?? null,
      ...(s.invalid ? { invalid: s.invalid } : {}),
      ...(syntaxErrors.has(s.file) ? { syntaxErrorLine: syntaxErrors.get(s.file) } : {}),
    }));
    process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
    return 0;
  }
  let width = 0;
  for (const s of specs) width = Math.max(width, s.id.length);
  // One write for the whole listing: a write per line to a pipe or file costs a system call each.
  const lines: string[] = [];
  for (const s of specs) {
    const ranks = s.invalid ? 'invalid' : s.ranks === null ? `dynamic (${s.dynamic ?? 'decided at run time'})` : `${s.ranks} rank${s.ranks === 1 ? '' : 's'}`;
    const broken = syntaxErrors.has(s.file) ? `   (syntax error at line ${syntaxErrors.get(s.file)}: errors at collection)` : '';
    lines.push(`${s.id.padEnd(width)}   ${ranks.padEnd(8)}   ${s.framework}${broken}\n`);
  }
  lines.push(`${specs.length} test${specs.length === 1 ? '' : 's'}\n`);
  // A file name that is not UTF-8 is printed as its bytes, as pytest prints it.
  process.stdout.write(encodeFsName(lines.join('')));
  return 0;
}

/** What pytest said beyond its items: a failed run, or files it could not collect (printed by discover as diagnostics). */
function reportCollection(collection: ExactCollection, files: number | undefined): void {
  if (collection.failure) process.stderr.write(`distest: ${collection.failure}\n`);
  else process.stderr.write(`distest: pytest collected ${collection.items.length} items${files === undefined ? '' : ` in ${files} file${files === 1 ? '' : 's'}`} (${collection.ms} ms)\n`);
}

/**
 * `list --verify`: pytest's full collection against distest's listing (dynamic items settled from the same
 * collection). Prints every difference; 1 when there is one or pytest gave no answer.
 */
async function verifyListing(root: string, settings: DistestSettings, exact: ExactOptions): Promise<number> {
  let collection: ExactCollection | undefined;
  const { specs } = await discover(root, settings, async files => {
    collection = await collectProject(root, files, exact);
    reportCollection(collection, undefined);
    return applyExactAll(files, filesToResolve(files), collection, exact.mpiDefaultRanks);
  });
  if (!collection || collection.failure) return 1;
  const { differences, matched, covered, unverified } = compareWithPytest(specs, collection, exact.mpiDefaultRanks);
  const notChecked = new Map(unverified.map(u => [u.file, `, ${u.listed} listed ${u.listed === 1 ? 'test' : 'tests'} not checked`]));
  for (const error of collection.errors) {
    const line = error.skipped
      ? `skipped  ${error.file}: pytest skips this file at collection here (${error.message})`
      : `error    ${error.file}:${error.line}: pytest cannot collect it: ${error.message}`;
    if (!error.skipped || notChecked.has(error.file)) process.stdout.write(encodeFsName(`${line}${notChecked.get(error.file) ?? ''}\n`));
  }
  for (const d of differences) process.stdout.write(encodeFsName(`${d.kind.padEnd(8)} ${d.id}${d.detail ? `   (${d.detail})` : ''}\n`));
  const count = (kind: string) => differences.filter(d => d.kind === kind).length;
  const uncheckable = unverified.reduce((n, u) => n + u.listed, 0);
  process.stdout.write(
    `${collection.items.length} pytest items: ${matched} listed alike${covered ? `, ${covered} under dynamic items` : ''}; ` +
      `${count('missing')} missing, ${count('extra')} extra, ${count('ranks')} with other rank counts` +
      `${uncheckable ? `; ${uncheckable} listed in files pytest skips or cannot collect here, not checked` : ''}\n`,
  );
  return differences.length || collection.errors.some(e => !e.skipped) ? 1 : 0;
}

/**
 * pytest-like selection: exact id, a test's group of rank counts, a file, `file::Class`, a folder prefix.
 * Node decodes argv as UTF-8, so a file name that is not UTF-8 is compared in the same lossy form.
 */
function selectSpecs(specs: TestSpec[], selectors: string[]): { selected: TestSpec[]; unknown: string[] } {
  if (selectors.length === 0) return { selected: specs, unknown: [] };
  const chosen = new Set<string>();
  const unknown: string[] = [];
  for (const raw of selectors) {
    const sel = raw.replace(/^\.\//, '').replace(/\\/g, '/');
    const prefix = sel.endsWith('::') || sel.endsWith('/') ? sel : null;
    const matches = specs.filter(s => {
      const id = lossyFsName(s.id);
      return (
        id === sel ||
        (s.groupId !== undefined && lossyFsName(s.groupId) === sel) ||
        (prefix ? id.startsWith(prefix) : id.startsWith(`${sel}::`) || id.startsWith(`${sel}/`) || id.startsWith(`${sel}[`))
      );
    });
    if (matches.length === 0) unknown.push(raw);
    for (const m of matches) chosen.add(m.id);
  }
  return { selected: specs.filter(s => chosen.has(s.id)), unknown };
}

interface CliProject { root: string; settings: DistestSettings; selectors: string[] }

/** The folder (a first positional that is one), its settings, and the other positionals: the selectors. */
function projectOf(p: Parsed, one?: string): CliProject {
  let root = process.cwd();
  let selectors = p.positionals;
  if (selectors.length && isDirectory(selectors[0]) && !selectors[0].includes('::')) {
    root = path.resolve(selectors[0]);
    selectors = selectors.slice(1);
  }
  if (one && selectors.length !== 1) throw new UsageError(`${one} takes one test id, got ${selectors.length ? selectors.join(' ') : 'none'}`);
  return { root, settings: loadSettings(root), selectors };
}

/** The project's tests its selectors select (every test without selectors). */
async function selectedTests({ root, settings, selectors }: CliProject): Promise<TestSpec[]> {
  const { specs } = await discover(root, settings);
  const { selected, unknown } = selectSpecs(specs, selectors);
  if (unknown.length) throw new UsageError(`no test matches ${unknown.join(', ')} under ${root} (see: distest list ${JSON.stringify(root)})`, false);
  return selected;
}

/** The settings with the flags that override them (`--mpiexec`, `--no-oversubscribe`). */
function cliRunSettings(p: Parsed, settings: DistestSettings): DistestSettings {
  return {
    ...settings,
    mpiexecPath: stringFlag(p, '--mpiexec') ?? settings.mpiexecPath,
    local: { ...settings.local, oversubscribe: settings.local.oversubscribe && !p.flags.has('--no-oversubscribe') },
  };
}

/** `--allocation` (and the `:new` request flags) as a session's allocation. */
function cliAllocation(p: Parsed, settings: DistestSettings, pool: HostPool): SessionOptions['allocation'] {
  const spec = allocationSpecFlag(p);
  const request = {
    nodes: numberFlag(p, '--nodes', { integer: true, min: 1 }), tasks: numberFlag(p, '--tasks', { integer: true, min: 1 }),
    minutes: numberFlag(p, '--time', { integer: true, min: 1 }), partition: stringFlag(p, '--partition'), account: stringFlag(p, '--account'),
  };
  const resolve = (signal?: AbortSignal) => resolveAllocation(spec, allocationContext(settings, pool, stringFlag(p, '--python')), {
    signal,
    onProgress: text => process.stderr.write(`distest: ${text}\n`),
    request,
  });
  // This machine (its python, cores and mpirun --version) is looked at now, beside discovery: nothing
  // there is created that would need undoing if the command stops before its run.
  const early = spec.kind === 'local' ? resolve() : undefined;
  early?.catch(() => undefined);
  return { label: formatAllocationSpec(spec), resolve: signal => early ?? resolve(signal) };
}

async function runCommand(args: string[]): Promise<number> {
  const p = parseArgs(args, ['--json', '--no-oversubscribe'], [...VALUE_FLAGS, ...DEBUG_FLAGS, '--jobs']);
  const ranksOverride = numberFlag(p, '--ranks', { integer: true, min: 1 });
  const jobs = numberFlag(p, '--jobs', { integer: true, min: 1 });
  const timeoutS = numberFlag(p, '--timeout', { integer: false, min: 0.1 });
  const project = projectOf(p);
  const { root, settings } = project;
  const json = p.flags.has('--json');
  const debug = debugFlags(p, settings);

  const pool = cliHostPool();
  const stop = stopOnSignals();
  const runSettings = cliRunSettings(p, settings);
  const allocation = cliAllocation(p, runSettings, pool);
  const selected = await selectedTests(project);
  const junitPath = stringFlag(p, '--junit');
  // The report goes out when the tests end, while the end-of-run sweep still runs; `--json`'s
  // `cleanup` (what the sweep killed) closes the document once the sweep is done.
  const report = (results: TestResult[]) => {
    if (junitPath) fs.writeFileSync(junitPath, junitXml(results, new Map(selected.map(s => [s.id, s]))));
    process.stdout.write(json ? jsonTests(results) : encodeFsName(humanSummary(results)));
  };
  const session = await runSession(selected, {
    root,
    settings: runSettings,
    allocation,
    overrides: { ranks: ranksOverride, timeoutSeconds: timeoutS, jobs, ...(debug ? { debug: debug.request } : {}) },
    signal: stop.signal,
    events: {
      progress: text => process.stderr.write(`distest: ${text}\n`),
      allocated: (alloc, created) => {
        if (alloc.kind !== 'local') process.stderr.write(`distest: running on ${allocationLabel(alloc)}${created ? ' (created for this run; cancelled when it ends)' : ''}\n`);
      },
      output: l => { if (l.rank !== null) process.stderr.write(`[rank ${l.rank}] ${l.text}\n`); },
      launcher: text => process.stderr.write(`${text}\n`),
      note: text => process.stderr.write(`distest: ${text}\n`),
      finished: report,
      ...(debug ? { debugEndpoint: debug.write } : {}),
    },
  });
  const { results, cleanup: sweeps } = session;
  pool.dispose();
  stop.dispose();

  if (json) process.stdout.write(jsonCleanup(sweeps));
  if (stop.signal.aborted) return stop.exitCode;
  return results.some(r => r.state === 'failed' || r.state === 'errored') ? 1 : 0;
}

/** `distest repeat` / `distest scale`: one test, many launches on one allocation (core/study). */
async function studyCommand(kind: 'repeat' | 'scale', args: string[]): Promise<number> {
  const booleans = ['--json', '--no-oversubscribe', kind === 'repeat' ? '--until-fail' : '--weak', ...(kind === 'scale' ? ['--csv'] : [])];
  const values = [...VALUE_FLAGS, '--out', '--svg', ...(kind === 'repeat' ? ['--count'] : ['--repeat'])];
  const p = parseArgs(args, booleans, values);
  if (p.flags.has('--json') && p.flags.has('--csv')) throw new UsageError('--json and --csv both print the study: give one of them');
  let ranksList: number[] | undefined;
  let ranksOverride: number | undefined;
  if (kind === 'scale') {
    const raw = stringFlag(p, '--ranks');
    try {
      ranksList = raw === undefined ? undefined : parseRankList(raw);
    } catch (err) {
      throw new UsageError(`--ranks: ${(err as Error).message}`);
    }
  } else {
    ranksOverride = numberFlag(p, '--ranks', { integer: true, min: 1 });
  }
  const timeoutS = numberFlag(p, '--timeout', { integer: false, min: 0.1 });
  const project = projectOf(p, kind);
  const { root, settings, selectors } = project;
  const selected = await selectedTests(project);
  if (kind === 'repeat' && selected.length !== 1) throw new UsageError(`repeat runs one test; ${selectors[0]} matches ${selected.length}: ${selected.slice(0, 4).map(s => s.id).join(', ')}${selected.length > 4 ? ', …' : ''}`, false);
  const pool = cliHostPool();
  const stop = stopOnSignals();
  const runSettings = cliRunSettings(p, settings);
  const say = (text: string) => process.stderr.write(`distest: ${text}\n`);
  const options = {
    root,
    settings: runSettings,
    allocation: cliAllocation(p, runSettings, pool),
    signal: stop.signal,
    timeoutSeconds: timeoutS,
    progress: say,
    iterationEvents: () => ({ note: say, progress: say }),
  };
  let study: Study;
  try {
    study = kind === 'repeat'
      ? await runRepeat(selected[0], {
        count: numberFlag(p, '--count', { integer: true, min: 1 }) ?? settings.repeat.count,
        untilFail: p.flags.has('--until-fail'),
        ranks: ranksOverride,
      }, options)
      : await runScale(selected, {
        ranks: ranksList,
        repeat: numberFlag(p, '--repeat', { integer: true, min: 1 }) ?? settings.scale.repeat,
        weak: p.flags.has('--weak'),
      }, options);
  } catch (err) {
    if (err instanceof StudyError) throw new UsageError(err.message, false);
    throw err;
  } finally {
    pool.dispose();
    stop.dispose();
  }
  const out = stringFlag(p, '--out');
  if (out) fs.writeFileSync(out, `${JSON.stringify(study, null, 2)}\n`);
  const svg = stringFlag(p, '--svg');
  if (svg) fs.writeFileSync(svg, studySvg(study));
  if (p.flags.has('--json')) process.stdout.write(`${JSON.stringify(study, null, 2)}\n`);
  else printStudy(study, p.flags.has('--csv'));
  if (stop.signal.aborted) return stop.exitCode;
  if (study.kind === 'repeat') return study.outcomes.failed + study.outcomes.errored > 0 ? 1 : 0;
  return study.points.every(pt => pt.samples.every(x => x.state === 'passed')) ? 0 : 1;
}

/** A study as text, or a scale study's table as CSV. */
function printStudy(study: Study, csv: boolean): void {
  if (csv && study.kind === 'scale') process.stdout.write(scaleCsv(study.points, study.weak));
  else process.stdout.write(study.kind === 'repeat' ? repeatText(study) : scaleText(study));
}

/** `distest chart STUDY.json [--svg FILE] [--csv]`: a study that `--out` wrote, printed and charted again. */
function chartCommand(args: string[]): number {
  const p = parseArgs(args, ['--csv'], ['--svg']);
  if (p.positionals.length !== 1) throw new UsageError(`chart takes one study file (the JSON of repeat/scale --out or --json), got ${p.positionals.length}`);
  const file = p.positionals[0];
  let study: Study;
  try {
    study = JSON.parse(fs.readFileSync(file, 'utf8')) as Study;
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`, false);
  }
  const valid = study?.version === 1 && ((study.kind === 'repeat' && Array.isArray(study.runs)) || (study.kind === 'scale' && Array.isArray(study.points)));
  if (!valid) throw new UsageError(`${file} is not a study (the JSON of distest repeat/scale --out or --json)`, false);
  if (p.flags.has('--csv') && study.kind !== 'scale') throw new UsageError('--csv prints a scale study\'s table; this is a repeat study', false);
  const svg = stringFlag(p, '--svg');
  if (svg) fs.writeFileSync(svg, studySvg(study));
  printStudy(study, p.flags.has('--csv'));
  return 0;
}

/** `--debug RANKS [--debug-endpoints FILE] [--debug-wait S]`: the request and where endpoint lines go. */
function debugFlags(p: Parsed, settings: DistestSettings): { request: DebugRequest; write(endpoint: DebugEndpoint): void } | undefined {
  const ranks = stringFlag(p, '--debug');
  const file = stringFlag(p, '--debug-endpoints');
  const wait = numberFlag(p, '--debug-wait', { integer: false, min: 0 });
  if (ranks === undefined) {
    if (file !== undefined || wait !== undefined) throw new UsageError('--debug-endpoints and --debug-wait go with --debug RANKS');
    return undefined;
  }
  let selection: 'all' | number[];
  try {
    selection = parseRankSelection(ranks);
  } catch (err) {
    if (err instanceof RankSelectionError) throw new UsageError(`--debug: ${err.message}`);
    throw err;
  }
  const request = { ...debugRequest(settings, selection), ...(wait !== undefined ? { waitSeconds: wait } : {}) };
  return {
    request,
    write: endpoint => {
      const { rank, node, host, port, pid, ...rest } = endpoint;
      const line = `${JSON.stringify({ rank, node, host, port, pid, ...rest })}\n`;
      if (file === undefined) process.stderr.write(line);
      else fs.appendFileSync(file, line);
    },
  };
}

/**
 * Ctrl-C, SIGTERM and SIGHUP (a `timeout`, a closed terminal) stop the run cleanly; a second one quits
 * at once. `exitCode` is the shell's convention for the signal that came.
 */
function stopOnSignals(): { signal: AbortSignal; readonly exitCode: number; dispose(): void } {
  const controller = new AbortController();
  const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  const names = Object.keys(codes) as (keyof typeof codes)[];
  let exitCode = 130;
  let interrupts = 0;
  const onStop = (signal: keyof typeof codes) => {
    exitCode = codes[signal];
    if (++interrupts > 1) process.exit(exitCode);
    process.stderr.write(`\ndistest: ${signal === 'SIGINT' ? 'interrupted' : `got ${signal}`}, stopping the run (Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  for (const name of names) process.on(name, onStop);
  return {
    signal: controller.signal,
    get exitCode() { return exitCode; },
    dispose: () => { for (const name of names) process.off(name, onStop); },
  };
}

/**
 * `run --json` is one document, `{"tests": [...], "cleanup": {...}}`, written in two parts: every test
 * with its messages and faults when the tests end (jsonTests), what the cleanup sweep killed after it
 * (jsonCleanup). Together they are exactly `JSON.stringify(report, null, 2)` and a newline.
 */
function jsonTests(results: TestResult[]): string {
  const tests = results.map(r => ({
    id: r.id,
    ranks: r.ranks,
    state: r.state,
    pytestOutcome: r.pytestOutcome ?? null,
    durationMs: r.durationMs,
    failedRanks: r.failedRanks,
    messages: r.messages.map(m => ({ rank: m.rank, text: m.text, file: m.file ?? null, line: m.line ?? null })),
    faults: (r.faults ?? []).map(f => ({
      kind: f.kind, rank: f.rank, host: f.host, signal: f.signal ?? null, core: f.core ?? null, file: f.file ?? null, line: f.line ?? null, stack: f.stack,
    })),
  }));
  const whole = JSON.stringify({ tests }, null, 2);
  return `${whole.slice(0, -'\n}'.length)},\n`;
}

function jsonCleanup(sweeps: SweepResult[]): string {
  const cleanup = { killed: sweeps.reduce((n, s) => n + s.killed.length, 0), hosts: sweeps.filter(s => s.killed.length).map(s => s.host) };
  return `  "cleanup": ${JSON.stringify(cleanup, null, 2).replace(/\n/g, '\n  ')}\n}\n`;
}

function allocationSpecFlag(p: Parsed) {
  try {
    return parseAllocationSpec(stringFlag(p, '--allocation') ?? 'local');
  } catch (err) {
    if (err instanceof AllocationSpecError) throw new UsageError(`--allocation: ${err.message}`);
    throw err;
  }
}

/** SSH hosts ask on the terminal (host keys, passphrases); without one an unknown host is refused. */
function cliHostPool(): HostPool {
  const prompts = terminalPrompts();
  return new HostPool({
    ...(prompts ? { confirmUnknownHost: prompts.confirmUnknownHost, askSecret: prompts.askSecret } : {}),
    log: line => process.env.DISTEST_DEBUG && process.stderr.write(`distest: ssh: ${line}\n`),
  });
}

function allocationContext(settings: DistestSettings, pool: HostPool, python?: string): AllocationContext {
  return { settings, python: python ?? pythonFor(settings), open: pool.open };
}

async function allocationsCommand(args: string[]): Promise<number> {
  const p = parseArgs(args, ['--json'], []);
  if (p.positionals.length > 1) throw new UsageError('allocations takes at most one folder');
  const root = path.resolve(p.positionals[0] ?? '.');
  if (!isDirectory(root)) throw new UsageError(`${p.positionals[0]} is not a folder`);
  const pool = cliHostPool();
  try {
    const choices = await listAllocations(allocationContext(loadSettings(root), pool));
    if (p.flags.has('--json')) {
      process.stdout.write(`${JSON.stringify(choices, null, 2)}\n`);
      return 0;
    }
    const width = Math.max(0, ...choices.map(c => (c.spec ?? '').length));
    for (const c of choices) process.stdout.write(`${(c.spec ?? '!').padEnd(width)}   ${c.label}${c.description ? ` — ${c.description}` : ''}\n`);
    return 0;
  } finally {
    pool.dispose();
  }
}

const MARKS: Record<TestResult['state'], string> = { passed: '✓', failed: '✗', skipped: '-', errored: '!' };

function humanSummary(results: TestResult[]): string {
  const out: string[] = [''];
  for (const r of results) {
    const ranks = r.ranks ? `  ${r.ranks} rank${r.ranks === 1 ? '' : 's'}` : '';
    const time = r.durationMs ? `  ${r.durationMs < 1000 ? `${Math.round(r.durationMs)} ms` : `${(r.durationMs / 1000).toFixed(1)} s`}` : '';
    out.push(`${MARKS[r.state]} ${r.id}${ranks}${time}${r.state === 'passed' ? '' : `  ${r.state}`}`);
    if (r.state === 'passed') continue;
    for (const m of r.messages) {
      const [first, ...rest] = messageText(m).split('\n');
      out.push(`    ${first}`);
      for (const line of rest.slice(0, 30)) out.push(`      ${line}`);
    }
  }
  const count = (s: TestResult['state']) => results.filter(r => r.state === s).length;
  out.push('', `${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped, ${count('errored')} errored`, '');
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'list':
        return await listCommand(rest);
      case 'run':
        return await runCommand(rest);
      case 'allocations':
        return await allocationsCommand(rest);
      case 'repeat':
      case 'scale':
        return await studyCommand(command, rest);
      case 'chart':
        return chartCommand(rest);
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`distest: ${err.message}\n${err.showUsage ? `${USAGE}\n` : ''}`);
      return 2;
    }
    process.stderr.write(`distest: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * Exits once stdout and stderr have handed everything to the OS. A pipe whose reader is slower than
 * the CLI takes writes asynchronously, and exiting before they drain cut `list --json | jq` at 64 KiB.
 * A reader that went away (`| head`) only ends the waiting.
 */
async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map(stream => new Promise<void>(resolve => {
    stream.on('error', () => resolve());
    stream.write('', () => resolve());
  })));
  process.exit(code);
}

// Exit explicitly: a cancelled run must not linger on some handle.
// This bundle also runs as discovery's helper thread for large folders (discoverFolder's workerScript).
if (!serveDiscoveryWorker()) void main(process.argv.slice(2)).then(exitWhenFlushed);
