import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeFsName, fsPath } from '../fsNames';
import type { FileDiscovery, MarkerDiagnostic } from '../types';
import { factsForCache, hashText, readTestFile, type DiscoveryCache, type ReadFile } from './cache';
import type { CollectContext } from './collect';
import { isConfigFileName, locatePytestConfig } from './configFiles';
import { compileConfig, type CompiledConfig, type DiscoveryConfig } from './config';
import type { ModuleAnalysis } from './modules';
import { PythonTestParser } from './parser';
import { ProjectModules, type DependencyFacts } from './project';
import { fnmatchRegExp } from './pyText';
import { rangeOf } from './pysyntax';
import { rememberFolder, underTestRoot } from './registry';
import { compileRules, loadPytestRules, type CompiledRules, type PytestRules } from './rules';
import { sourceOf } from './scope';

/**
 * Files read and parsed between two yields to the event loop (a language server must stay responsive);
 * also the unit threads share work in, so small enough that no thread waits long on the last chunk.
 */
const CHUNK_FILES = 50;
/** Below this many files a helper thread costs more (its own wasm load) than it saves. */
const MIN_FILES_FOR_WORKERS = 600;
const WORKER_FLAG = 'distestDiscoveryWorker';
/** A helper's workerData before it has a job (PrestartedHelpers): it loads, then waits for one. */
const PRESTARTED = 'prestarted';
/** Prestarted helpers no discovery has taken by then end. */
const PRESTARTED_IDLE_MS = 60_000;

export interface DiscoverFolderOptions {
  /**
   * A script that calls serveDiscoveryWorker() before anything else (the calling bundle itself,
   * usually `__filename`). Given, large folders are parsed on helper threads too, one per spare core.
   */
  workerScript?: string;
  /**
   * Reuses what an earlier discovery of the folder found for files whose content, and whatever else it
   * read, are unchanged; keeps what this one finds (see cache.ts).
   */
  cache?: DiscoveryCache;
  /**
   * Called once, before the parsing starts, when the folder has so many files to parse that helper
   * threads are worth starting, with the number of threads that will parse (the language server and the
   * CLI tune V8 there: cache.ts tuneV8ForBulkParse).
   */
  beforeBulkParse?: (threads: number) => void;
  /**
   * Helper threads started ahead (see PrestartedHelpers): a bulk discovery takes them instead of starting
   * its own, and whatever this discovery does not take ends when it finishes.
   */
  helpers?: PrestartedHelpers;
}

/** Test files under root as pytest started there would collect them, relative with forward slashes, sorted. */
export async function findTestFiles(root: string, config: DiscoveryConfig, parser?: PythonTestParser): Promise<string[]> {
  const python = new ParserOnDemand(parser);
  const rules = loadPytestRules(path.resolve(root));
  const modules = new ProjectModules(python, rules, compileConfig(config));
  try {
    return (await walkProject(rules, config, modules, () => python.ready())).files;
  } finally {
    modules.dispose();
    python.dispose();
  }
}

/**
 * The parser a discovery may need, loaded when first asked for (`ready`): a folder whose files all come
 * from the cache parses nothing, and its discovery never loads the wasm. Parsing before `ready` resolved
 * is a bug of the caller, said as such.
 */
class ParserOnDemand {
  private loading?: Promise<PythonTestParser>;
  private loaded?: PythonTestParser;

  /** `given`: the caller's parser (or its loading), which the caller disposes. */
  constructor(private readonly given?: PythonTestParser | Promise<PythonTestParser>) {}

  ready(): Promise<PythonTestParser> {
    this.loading ??= Promise.resolve(this.given ?? PythonTestParser.create()).then(parser => (this.loaded = parser));
    return this.loading;
  }

  parseKept(text: string): ReturnType<PythonTestParser['parseKept']> {
    if (!this.loaded) throw new Error('discovery parsed a module before its parser loaded');
    return this.loaded.parseKept(text);
  }

  dispose(): void {
    if (!this.given) void this.loading?.then(parser => parser.dispose(), () => undefined);
  }
}

/**
 * Discovers every test file under root, in path order, with pytest's configuration of the folder.
 * Files that vanish or cannot be read are skipped. Configuration files and conftest.py files with
 * problems come back as entries without tests. Files are read synchronously, a chunk per event-loop
 * turn: for thousands of small files that is 3-6x faster than fs.promises (each promise read costs
 * four thread-pool round trips). With the caller's parser, the folder's rules and modules stay for
 * single files discovered later with that parser and config (see registry.ts).
 */
export async function discoverFolder(root: string, config: DiscoveryConfig, parser?: PythonTestParser | Promise<PythonTestParser>, options: DiscoverFolderOptions = {}): Promise<FileDiscovery[]> {
  const absoluteRoot = path.resolve(root);
  const rules = loadPytestRules(absoluteRoot);
  const cache = options.cache?.folder(absoluteRoot, cacheKey(config, rules));
  const python = new ParserOnDemand(parser);
  // Without entries in the cache the files will be parsed: the parser loads while the folder is walked.
  if (!cache?.holdsEntries()) void python.ready().catch(() => undefined);
  let modules: ProjectModules | undefined = new ProjectModules(python, rules, compileConfig(config));
  try {
    const walked = await walkProject(rules, config, modules, () => python.ready());
    // A folder below with a configuration file of its own is a test root of its own (see nestedRoots).
    const nested = nestedRoots(walked.nestedConfigs, absoluteRoot);
    const below = (rel: string) => nested.some(dir => rel.startsWith(`${dir}/`));
    const files = nested.length ? walked.files.filter(f => !below(f)) : walked.files;
    const prefix = absoluteRoot.endsWith('/') ? absoluteRoot : `${absoluteRoot}/`;
    const reused = new Map<string, FileDiscovery>();
    let todo = files;
    const loadedModules = modules;
    if (cache?.validate(facts => loadedModules.stillHolds(facts, (_file, text, hash) => hashText(text) === hash))) {
      todo = [];
      for (const file of files) {
        const found = cache.lookup(file, fsPath(prefix + file));
        if (found) reused.set(file, found);
        else todo.push(file);
      }
    }
    // What this discovery reads counts from here on, not from its end: a file it depends on that is saved
    // while it runs must still ask for a rescan (dependsOn), also when the stored facts were just dropped.
    cache?.trackFacts(() => loadedModules.facts());
    const chunks: string[][] = [];
    for (let start = 0; start < todo.length; start += CHUNK_FILES) chunks.push(todo.slice(start, start + CHUNK_FILES));
    const results: (ChunkResult | undefined)[] = new Array(chunks.length);
    // Every thread claims its next chunk from a shared counter: a helper never waits on this thread, which
    // only reads messages between its own chunks.
    const claimed = new Int32Array(new SharedArrayBuffer(4));
    const bulk = todo.length >= MIN_FILES_FOR_WORKERS;
    const helpers = options.workerScript && bulk ? helperThreads() : 0;
    if (bulk) options.beforeBulkParse?.(helpers + 1);
    const job: HelperJob = { root: absoluteRoot, chunks, config, rules, listings: helpers ? walked.listings : [], claimed: claimed.buffer as SharedArrayBuffer, cache: cache !== undefined };
    const helping = Array.from({ length: helpers }, () => runHelper(options.helpers?.take() ?? options.workerScript!, job, results, facts => cache?.addFacts(facts)));
    // The caller's parser stays with the folder (below), so it is made ready even when nothing is parsed now.
    const loaded = todo.length || parser ? await python.ready() : undefined;
    const context = contextOf(modules);
    const keep = cache !== undefined;
    for (let index = Atomics.add(claimed, 0, 1); loaded && index < chunks.length; index = Atomics.add(claimed, 0, 1)) {
      results[index] = discoverFiles(loaded, absoluteRoot, chunks[index], config, context, keep);
      await new Promise(resolve => setImmediate(resolve));
    }
    await Promise.all(helping);
    // A helper that failed to start or died leaves the chunks it had claimed to this thread.
    for (let index = 0; loaded && index < chunks.length; index++) results[index] ??= discoverFiles(loaded, absoluteRoot, chunks[index], config, context, keep);
    let found = (results as ChunkResult[]).flatMap(r => r.files);
    if (cache) {
      for (const { files: discoveries, reads } of results as ChunkResult[]) if (reads) discoveries.forEach((discovery, i) => cache.put(discovery, reads[i]));
      cache.retain(files);
      cache.save();
      if (reused.size) {
        for (const discovery of found) reused.set(discovery.file, discovery);
        found = files.flatMap(file => reused.get(file) ?? []);
      }
    }
    if (loaded && parser) {
      const kept = modules;
      rememberFolder({ root: absoluteRoot, config, parser: loaded, context, cache, collects: collectsFile(kept), dispose: () => kept.dispose(), nestedRoots: nested });
      modules = undefined;
    }
    const own = mergeExtra(found, [...rules.diagnostics, ...walked.diagnostics.filter(d => !below(d.file))]);
    if (!nested.length) return own;
    const inner: FileDiscovery[] = [];
    for (const dir of nested) inner.push(...(await discoverFolder(path.join(absoluteRoot, dir), config, parser, options)).map(f => underTestRoot(f, dir)));
    return [...own, ...inner].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  } finally {
    options.helpers?.release();
    modules?.dispose();
    python.dispose();
  }
}

/**
 * The folder's listing as its cache holds it, unchecked against the disk: what an editor shows at once
 * while discoverFolder verifies it (which hands back the very same objects for files it finds unchanged).
 * Undefined when the cache holds nothing for these settings and this pytest configuration. Files of
 * nested test roots come with the verified listing only.
 */
export function cachedListing(root: string, config: DiscoveryConfig, cache: DiscoveryCache): FileDiscovery[] | undefined {
  const absoluteRoot = path.resolve(root);
  const listing = cache.folder(absoluteRoot, cacheKey(config, loadPytestRules(absoluteRoot))).listing();
  return listing.length ? listing : undefined;
}

/** Diagnostics of files that are no test files (configuration, conftest.py) as entries of their own, in path order. */
function mergeExtra(found: FileDiscovery[], diagnostics: MarkerDiagnostic[]): FileDiscovery[] {
  if (!diagnostics.length) return found;
  const byFile = new Map(found.map(f => [f.file, f]));
  for (const diagnostic of diagnostics) {
    let entry = byFile.get(diagnostic.file);
    if (!entry) byFile.set(diagnostic.file, (entry = { file: diagnostic.file, tests: [], diagnostics: [] }));
    entry.diagnostics.push(diagnostic);
  }
  return [...byFile.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

function contextOf(modules: ProjectModules): Omit<CollectContext, 'absPath'> {
  return { rules: compileRules(modules.rules), modules };
}

/** What a folder's discovery is cached under besides the version: the settings and pytest's configuration as read. */
function cacheKey(config: DiscoveryConfig, rules: PytestRules): string {
  return hashText(JSON.stringify([config, rules]));
}

/** `keep`: also what the cache keys each file by. */
function discoverFiles(parser: PythonTestParser, root: string, files: string[], config: DiscoveryConfig, context: Omit<CollectContext, 'absPath'>, keep: boolean): ChunkResult {
  const results: FileDiscovery[] = [];
  const reads: ReadFile[] | undefined = keep ? [] : undefined;
  // One context object for the chunk, its file changed for each (collectTests keeps none of it).
  const perFile: CollectContext = { rules: context.rules, modules: context.modules, absPath: '' };
  const prefix = root.endsWith('/') ? root : `${root}/`;
  for (const file of files) {
    perFile.absPath = prefix + file;
    let text: string;
    try {
      if (reads) {
        const read = readTestFile(fsPath(perFile.absPath));
        text = read.text;
        reads.push(read.read);
      } else {
        text = fs.readFileSync(fsPath(perFile.absPath), 'utf8');
      }
    } catch {
      continue;
    }
    results.push(parser.discover(file, text, config, perFile));
  }
  return { files: results, reads };
}

// ---- the walk: pytest's Session.collect over its starting points ----

/**
 * `listings`: the names of every folder walked, so that helper threads need not read them again.
 * `nestedConfigs`: configuration files found below the rootdir.
 */
interface Walked { files: string[]; diagnostics: MarkerDiagnostic[]; listings: [string, string[]][]; nestedConfigs: string[] }
interface IgnoreLists { paths: Set<string>; globs: RegExp[] }
const NO_LISTS: IgnoreLists = { paths: new Set(), globs: [] };

/**
 * Walks the starting points as pytest's Session does: norecursedirs, `__pycache__`, virtualenvs,
 * --ignore / --ignore-glob and the closest conftest.py's collect_ignore / collect_ignore_glob; files by
 * python_files (or a launcher glob); files named as starting points always. The directory walk runs
 * while the parser may still load; collect_ignore is applied after (once `parserReady`, as are the
 * conftest.py files' hooks), which prunes the same folders.
 */
async function walkProject(rules: PytestRules, config: DiscoveryConfig, modules: ProjectModules, parserReady: () => Promise<unknown>): Promise<Walked> {
  const compiled = compileRules(rules);
  const compiledConfig = compileConfig(config);
  const listings = new Map<string, string[]>();
  const candidates = new Set<string>();
  const initial = new Set<string>();
  const nested: string[] = [];
  for (const arg of rules.args) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(arg);
    } catch {
      continue;
    }
    if (stat.isFile()) {
      if (arg.endsWith('.py')) {
        candidates.add(arg);
        initial.add(arg);
      }
      continue;
    }
    await walkFolder(arg, rules, compiled, compiledConfig, listings, candidates, nested);
  }
  for (const [dir, names] of listings) modules.primeListing(dir, names);
  const diagnostics: MarkerDiagnostic[] = [];
  const ignored = new IgnoreChecker(modules, diagnostics);
  // Only conftest.py files can ignore more: those of the folders walked and those above the root. A
  // conftest.py is parsed here only when it mentions what the walk needs of it.
  const conftests = new Set(modules.conftestFiles(rules.root));
  for (const [dir, names] of listings) if (names.includes('conftest.py')) for (const file of modules.conftestFiles(dir)) conftests.add(file);
  if (conftests.size) await parserReady();
  const ignoring = [...conftests].some(file => modules.textOf(file).includes('collect_ignore'));
  const files: string[] = [];
  const prefix = rules.root.endsWith('/') ? rules.root : `${rules.root}/`;
  for (const file of candidates) {
    // Files outside the workspace folder (a starting point like ../x) have no id here.
    if (!file.startsWith(prefix)) continue;
    if (ignoring && !initial.has(file) && ignored.excludes(file, rules.args)) continue;
    files.push(file.slice(prefix.length));
  }
  for (const file of conftests) {
    if (ignoring) ignored.visit(path.dirname(file));
    if (!/def\s+pytest_/.test(modules.textOf(file))) continue;
    const conftest = modules.analysisAt(file);
    if (conftest) diagnostics.push(...hookDiagnostics(conftest));
  }
  return { files: [...new Set(files)].sort(), diagnostics: diagnostics.filter(d => !d.file.startsWith('../')), listings: [...listings], nestedConfigs: nested };
}

async function walkFolder(start: string, rules: PytestRules, compiled: CompiledRules, config: CompiledConfig, listings: Map<string, string[]>,
  candidates: Set<string>, nestedConfigs: string[]): Promise<void> {
  let level = [start];
  while (level.length) {
    const next: string[] = [];
    // Synchronous reads, a level per event-loop turn: for a thousand folders 2-3x faster than
    // fs.promises (whose every call is a thread-pool round trip).
    await new Promise(resolve => setImmediate(resolve));
    for (const dir of level) {
      let entries: fs.Dirent<Buffer>[];
      try {
        entries = fs.readdirSync(fsPath(dir), { withFileTypes: true, encoding: 'buffer' });
      } catch {
        continue; // vanished or unreadable: nothing to discover there
      }
      // Names are read as bytes: one that is not valid UTF-8 is kept with its bytes escaped (fsNames.ts).
      const names = entries.map(e => decodeFsName(e.name));
      if (dir !== start && !rules.collectInVirtualenv && isVirtualenv(dir, names)) continue;
      listings.set(dir, names);
      for (const [index, entry] of entries.entries()) {
        const name = names[index];
        const child = dir === '/' ? `/${name}` : `${dir}/${name}`;
        let isDir = entry.isDirectory();
        let isFile = entry.isFile();
        if (entry.isSymbolicLink()) {
          let target: fs.Stats;
          try {
            target = fs.statSync(fsPath(child));
          } catch {
            continue; // dangling, a loop, unreadable
          }
          isDir = target.isDirectory();
          isFile = target.isFile();
        }
        if (isDir) {
          if (compiled.isIgnored(child) || compiled.isExcludedDir(child)) continue;
          next.push(child);
        } else if (isFile) {
          if (dir !== rules.rootdir && isConfigFileName(name)) nestedConfigs.push(child);
          if (!name.endsWith('.py') || compiled.isIgnored(child)) continue;
          if (compiled.matchesPythonFiles(child) || (config.config.launchers.length && config.launcherFor(path.relative(rules.root, child)))) candidates.add(child);
        }
      }
    }
    level = next;
  }
}

/** pytest 7's _in_venv (bin/activate*) and pytest 8's (pyvenv.cfg, conda-meta/history). */
function isVirtualenv(dir: string, names: string[]): boolean {
  let bin = false;
  let conda = false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name === 'pyvenv.cfg') return true;
    if (name === 'bin') bin = true;
    else if (name === 'conda-meta') conda = true;
  }
  if (conda && fs.existsSync(path.join(dir, 'conda-meta', 'history'))) return true;
  if (!bin) return false;
  try {
    return fs.readdirSync(path.join(dir, 'bin')).some(name => /^(activate(\.csh|\.fish)?|Activate(\.bat|\.ps1)?)$/.test(name));
  } catch {
    return false;
  }
}

/**
 * collect_ignore / collect_ignore_glob of the closest conftest.py that sets each: a path is skipped
 * when it or a folder on its way from the starting point is listed by the conftest files above it.
 */
class IgnoreChecker {
  private readonly perChain = new WeakMap<string[], IgnoreLists>();
  private readonly verdicts = new Map<string, boolean>();
  private readonly reported = new Set<ModuleAnalysis>();

  constructor(private readonly modules: ProjectModules, private readonly diagnostics: MarkerDiagnostic[]) {}

  /** Whether pytest skips `file` or one of its folders below the starting point that contains it. */
  excludes(file: string, starts: string[]): boolean {
    const start = starts.length === 1 ? starts[0] : starts.filter(s => file.startsWith(`${s}/`)).sort((a, b) => b.length - a.length)[0];
    if (start === undefined || !file.startsWith(`${start}/`)) return false;
    const dir = path.dirname(file);
    return this.isIgnored(file, dir) || this.excludedFolder(dir, start);
  }

  /** Whether a folder below `start` (or one between them) is skipped; cached per folder. */
  private excludedFolder(dir: string, start: string): boolean {
    if (dir.length <= start.length) return false;
    let verdict = this.verdicts.get(dir);
    if (verdict === undefined) {
      const parent = path.dirname(dir);
      verdict = this.isIgnored(dir, parent) || this.excludedFolder(parent, start);
      this.verdicts.set(dir, verdict);
    }
    return verdict;
  }

  /** Reads the lists a folder's conftest.py files set (and reports what is computed in them). */
  visit(dir: string): void {
    this.listsFor(dir);
  }

  private isIgnored(target: string, parent: string): boolean {
    const lists = this.listsFor(parent);
    return lists !== NO_LISTS && (lists.paths.has(target) || lists.globs.some(re => re.test(target)));
  }

  private listsFor(dir: string): IgnoreLists {
    const files = this.modules.conftestFiles(dir);
    let lists = this.perChain.get(files);
    if (lists) return lists;
    const chain = files
      .filter(file => this.modules.textOf(file).includes('collect_ignore'))
      .map(file => this.modules.analysisAt(file))
      .filter((c): c is ModuleAnalysis => c !== undefined);
    if (!chain.some(c => c.ignoreLists.size)) {
      this.perChain.set(files, NO_LISTS);
      return NO_LISTS;
    }
    lists = { paths: new Set(), globs: [] };
    let pathsFound = false;
    let globsFound = false;
    for (let i = chain.length - 1; i >= 0 && !(pathsFound && globsFound); i--) {
      const conftest = chain[i];
      const dirOf = path.dirname(conftest.absPath);
      if (!pathsFound && conftest.ignoreLists.has('collect_ignore')) {
        pathsFound = true;
        for (const entry of this.entriesOf(conftest, 'collect_ignore')) lists.paths.add(path.resolve(dirOf, entry));
      }
      if (!globsFound && conftest.ignoreLists.has('collect_ignore_glob')) {
        globsFound = true;
        for (const entry of this.entriesOf(conftest, 'collect_ignore_glob')) lists.globs.push(fnmatchRegExp(path.resolve(dirOf, entry)));
      }
    }
    this.perChain.set(files, lists);
    return lists;
  }

  /** The literal strings of a conftest's list; what is computed is said on the conftest (once). */
  private entriesOf(conftest: ModuleAnalysis, name: string): string[] {
    const list = conftest.ignoreLists.get(name)!;
    const report = !this.reported.has(conftest);
    const say = (node: Parameters<typeof rangeOf>[0], message: string) => {
      if (report) this.diagnostics.push({ file: conftest.file, range: rangeOf(node), severity: 'warning', message });
    };
    if (list.conditional) {
      say(list.value!, `${name} is set conditionally here; distest cannot tell whether pytest skips these paths, so it lists them`);
      this.reported.add(conftest);
      return [];
    }
    const value = conftest.scope.evaluate(list.value!);
    const entries: string[] = [];
    if (value.kind === 'sequence') {
      for (const item of value.items) {
        if (item.value.kind === 'str') entries.push(item.value.value);
        else if (item.node) say(item.node, `${name} entry \`${sourceOf(item.node)}\` is computed at run time; distest does not skip it`);
      }
    } else {
      say(list.value!, `${name} is computed at run time; distest does not skip what it lists`);
    }
    for (const change of list.changes) say(change, `${name} is changed here at run time; distest applies only the list literal`);
    this.reported.add(conftest);
    return entries;
  }
}

/** Whether the walk would collect a file (relative to the root): what folderOf's users ask of a single file. */
function collectsFile(modules: ProjectModules): (relFile: string) => boolean {
  const rules = modules.rules;
  const compiled = compileRules(rules);
  const ignored = new IgnoreChecker(modules, []);
  return relFile => {
    const file = path.join(rules.root, relFile);
    if (rules.args.includes(file)) return file.endsWith('.py');
    const start = rules.args.filter(a => file.startsWith(`${a}/`)).sort((a, b) => b.length - a.length)[0];
    if (!start || !file.endsWith('.py') || compiled.isIgnored(file)) return false;
    for (let dir = path.dirname(file); dir.length > start.length; dir = path.dirname(dir)) {
      if (compiled.isIgnored(dir) || compiled.isExcludedDir(dir)) return false;
    }
    if (!compiled.matchesPythonFiles(file) && !modules.config.launcherFor(relFile)) return false;
    return !ignored.excludes(file, rules.args);
  };
}

/**
 * The folders below the root whose configuration file pytest reads (pytest.ini always; the others with a
 * pytest section), relative, the outermost only (discovering one finds those below it). pytest picks the
 * configuration closest to its path arguments: given the paths of one test below such a folder (which is
 * how tests run), pytest started in the workspace folder reads that folder's file, not the workspace's,
 * and names the test relative to it. So such a folder is a test root of its own: its rules apply below
 * it, its tests run from it, and their ids stay relative to the workspace folder (TestSpec.testRoot).
 */
function nestedRoots(configs: string[], root: string): string[] {
  const dirs = new Set<string>();
  for (const file of configs) {
    const dir = path.dirname(file);
    if (dir !== root && !dirs.has(dir) && path.dirname(locatePytestConfig(dir, [])?.path ?? '') === dir) dirs.add(dir);
  }
  const sorted = [...dirs].map(dir => path.relative(root, dir).split(path.sep).join('/')).sort();
  return sorted.filter(dir => !sorted.some(outer => dir.startsWith(`${outer}/`)));
}

/** Hooks of a conftest.py that decide at run time what pytest collects. */
function hookDiagnostics(conftest: ModuleAnalysis): MarkerDiagnostic[] {
  return conftest.collectionHooks().map(hook => ({
    file: conftest.file,
    range: rangeOf(hook.nameNode),
    severity: 'info' as const,
    message: `${hook.name} decides at run time what pytest collects; distest lists tests by pytest's own rules here`,
  }));
}

// ---- helper threads ----

interface HelperJob { root: string; chunks: string[][]; config: DiscoveryConfig; rules: PytestRules; listings: [string, string[]][]; claimed: SharedArrayBuffer; cache: boolean }
/** A chunk's discoveries, with what the cache keys each by when there is a cache. */
interface ChunkResult { files: FileDiscovery[]; reads?: ReadFile[] }
/** A helper's messages: a chunk done, or (last, with a cache) the facts its modules read. */
type HelperMessage = { index: number; chunk: ChunkResult } | { facts: DependencyFacts };

/** One per spare core, at most 3. */
function helperThreads(): number {
  return Math.min(3, os.availableParallelism() - 1);
}

/**
 * Helper threads started before a discovery knows whether it will need them, by a process about to
 * discover (the language server, the command line, at their start): they load while the folder is
 * walked instead of after it, and a bulk discovery starts parsing on every core ~100 ms sooner. The
 * first discovery given them takes what it needs; the rest end when it finishes, or after a minute
 * unused. Until taken they do not keep the process alive.
 */
export class PrestartedHelpers {
  private waiting: Worker[];

  constructor(script: string, count = helperThreads()) {
    this.waiting = Array.from({ length: count }, () => {
      const helper = new Worker(script, { workerData: { [WORKER_FLAG]: PRESTARTED } });
      helper.unref();
      // One that fails to load is dropped; a discovery then starts a helper of its own.
      const drop = () => { this.waiting = this.waiting.filter(w => w !== helper); };
      helper.on('error', drop).on('exit', drop);
      return helper;
    });
    setTimeout(() => this.release(), PRESTARTED_IDLE_MS).unref();
  }

  /** Helpers still waiting for a job. */
  get count(): number {
    return this.waiting.length;
  }

  take(): Worker | undefined {
    const helper = this.waiting.pop();
    helper?.ref();
    return helper;
  }

  /** Ends the helpers no discovery took. */
  release(): void {
    for (const helper of this.waiting.splice(0)) void helper.terminate();
  }
}

/**
 * A helper thread working through the shared chunks: a prestarted one, given its job by message, or one
 * started on the script `from` names with its job. Resolves when it exits, however it ends.
 */
function runHelper(from: Worker | string, job: HelperJob, results: (ChunkResult | undefined)[], addFacts: (facts: DependencyFacts) => void): Promise<void> {
  return new Promise(resolve => {
    const prestarted = typeof from !== 'string';
    const helper = prestarted ? from : new Worker(from, { workerData: { [WORKER_FLAG]: job } });
    if (prestarted) helper.postMessage(job);
    const done: ChunkResult[] = [];
    let factsSent = false;
    helper.on('message', (message: HelperMessage) => {
      if ('facts' in message) {
        factsSent = true;
        addFacts(message.facts);
      } else {
        results[message.index] = message.chunk;
        done.push(message.chunk);
      }
    });
    helper.on('error', () => undefined); // 'exit' follows; the caller redoes what is missing
    helper.on('exit', () => {
      // Without the facts they rest on, this helper's discoveries are used but not cached.
      if (job.cache && !factsSent) for (const chunk of done) chunk.reads = undefined;
      resolve();
    });
  });
}

/**
 * Call first thing in a bundle that passes itself as `workerScript`: in a discovery helper thread it
 * works through its job and returns true (the bundle must then do nothing else); elsewhere it returns false.
 */
export function serveDiscoveryWorker(): boolean {
  const given = (workerData as Record<string, HelperJob | typeof PRESTARTED | undefined> | undefined)?.[WORKER_FLAG];
  if (isMainThread || !parentPort || !given) return false;
  const port = parentPort;
  // A failure to load ends this thread with an 'error'; the main thread then does the chunks itself.
  const loading = PythonTestParser.create();
  const work = (job: HelperJob) => void loading.then(parser => {
    const modules = new ProjectModules(parser, job.rules, compileConfig(job.config));
    for (const [dir, names] of job.listings) modules.primeListing(dir, names);
    const context = contextOf(modules);
    const claimed = new Int32Array(job.claimed);
    for (let index = Atomics.add(claimed, 0, 1); index < job.chunks.length; index = Atomics.add(claimed, 0, 1)) {
      port.postMessage({ index, chunk: discoverFiles(parser, job.root, job.chunks[index], job.config, context, job.cache) } satisfies HelperMessage);
    }
    if (job.cache) port.postMessage({ facts: factsForCache(modules.facts()) } satisfies HelperMessage);
    modules.dispose();
    parser.dispose();
    port.close();
  });
  if (given === PRESTARTED) port.once('message', work);
  else work(given);
  return true;
}
