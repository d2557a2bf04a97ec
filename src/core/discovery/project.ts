// The project's modules as seen from its test files: conftest.py files up the tree, the modules test
// files import (base classes, fixtures, constants), found the way Python's import system would find them
// under pytest (the file's own folder and its parents on sys.path, relative imports by package).
// One instance per thread: parsed modules keep their trees until dispose().
import fs from 'node:fs';
import path from 'node:path';
import type { CompiledConfig } from './config';
import { MAX_BASE_DEPTH, ModuleAnalysis, type AnalysisOptions, type FixtureDecl, type ModuleResolver, type PySymbol } from './modules';
import type { SyntaxNode } from './syntax';
import type { PytestRules } from './rules';

/** What the project's modules need of a parser (parser.ts PythonTestParser): a tree kept per module. */
export interface ModuleParser {
  parseKept(text: string): { root: SyntaxNode; delete(): void } | undefined;
}

/** Fixtures visible from one folder: pytest_plugins modules, then conftest.py files from the top down. */
export interface FolderFixtures {
  /** conftest.py analyses from the confcutdir down to the folder. */
  conftests: ModuleAnalysis[];
  /** Every fixture definition by name, in pytest's registration order (the closest last). */
  byName: Map<string, FixtureDecl[]>;
  /** Autouse fixture names in pytest's order (the ini option `usefixtures` first). */
  autouse: string[];
  /** Whether any of them has params (else no test here gets parametrized by fixtures). */
  parametrized: boolean;
  /** The conftest files' pytest_generate_tests: the argnames each parametrizes, or 'all'. */
  generated: (Set<string> | 'all')[];
  /** Whether a conftest file makes parameter ids itself (pytest_make_parametrize_id). */
  makesIds: boolean;
}

/**
 * What discovery read of the file system: texts by absolute path (the text, or what stands for it such
 * as a hash), `dir\0name` → whether the folder holds the name, file → whether it exists.
 */
export interface DependencyFacts<Text = string> { texts: Map<string, Text>; holds: Map<string, boolean>; files: Map<string, boolean> }
interface AskedFacts { texts: Set<string>; holds: Map<string, boolean>; files: Map<string, boolean> }

export class ProjectModules implements ModuleResolver {
  private readonly analyses = new Map<string, ModuleAnalysis | null>();
  private readonly trees: { delete(): void }[] = [];
  private readonly listings = new Map<string, Set<string> | null>();
  private readonly nearest = new Map<string, string | null>();
  private readonly files = new Map<string, boolean>();
  /** Symbols by the folder of the importing module and the dotted name (what they resolve to depends on no more). */
  private readonly symbols = new Map<string, PySymbol | null>();
  private readonly folderFixtures = new Map<string, FolderFixtures>();
  private readonly conftestChains = new Map<string, string[]>();
  private readonly primed = new Map<string, string[]>();
  private readonly byFolder = new Map<string, PySymbol | null>();
  private readonly paramsImports = new Map<string, Map<string, boolean>>();
  private readonly textSays = new Map<string, boolean>();
  private options?: AnalysisOptions;
  private readonly parametrizing = new Map<string, FolderFixtures | null>();
  private readonly mattering = new WeakMap<string[], boolean>();
  private readonly texts = new Map<string, string>();
  /** What discovery asked of the file system through this instance (see facts()). */
  private readonly asked: AskedFacts = { texts: new Set(), holds: new Map(), files: new Map() };

  constructor(private readonly parser: ModuleParser, readonly rules: PytestRules, readonly config: CompiledConfig) {}

  /** The analysis of a module file, parsed once and kept; undefined when it cannot be read. */
  analysisAt(absPath: string): ModuleAnalysis | undefined {
    const cached = this.analyses.get(absPath);
    if (cached !== undefined) return cached ?? undefined;
    this.analyses.set(absPath, null); // an import cycle resolves to nothing
    const text = this.textOf(absPath);
    const parsed = this.parser.parseKept(text);
    if (!parsed) return undefined;
    this.trees.push(parsed);
    const analysis = this.analyze(parsed.root, absPath);
    this.analyses.set(absPath, analysis);
    return analysis;
  }

  /** A fresh analysis of a parsed module (the caller owns the tree). */
  analyze(root: SyntaxNode, absPath: string, file = this.relative(absPath)): ModuleAnalysis {
    this.options ??= { config: this.config, resolver: this, keepNonAsciiIds: this.rules.keepNonAsciiIds };
    return new ModuleAnalysis(root, file, absPath, this.options);
  }

  relative(absPath: string): string {
    return path.relative(this.rules.root, absPath).split(path.sep).join('/');
  }

  resolveSymbol(from: ModuleAnalysis, qualified: string, depth: number): PySymbol | undefined {
    if (depth > MAX_BASE_DEPTH) return undefined;
    // Most lookups repeat one already made from the same folder.
    const folderKey = `${from.absPath.slice(0, from.absPath.lastIndexOf('/'))}\0${qualified}`;
    const known = this.byFolder.get(folderKey);
    if (known !== undefined) return known ?? undefined;
    const found = this.lookUp(from, qualified, depth);
    if (!found || !symbolIn(found, from)) this.byFolder.set(folderKey, found ?? null);
    return found;
  }

  private lookUp(from: ModuleAnalysis, qualified: string, depth: number): PySymbol | undefined {
    const dots = /^\.*/.exec(qualified)![0];
    const parts = qualified.slice(dots.length).split('.').filter(Boolean);
    const fromDir = parentOf(from.absPath);
    // What a name resolves to depends only on the folder its search starts in: cached per folder.
    let anchor: string | undefined;
    if (dots) {
      anchor = fromDir;
      for (let i = 1; i < dots.length; i++) anchor = parentOf(anchor);
    } else {
      if (!parts.length) return undefined;
      anchor = this.nearestWith(fromDir, parts[0]);
      if (!anchor) return undefined;
    }
    const key = `${anchor}\0${dots ? '.' : ''}${parts.join('.')}`;
    const cached = this.symbols.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.findSymbol(from, anchor, parts, dots !== '', depth);
    // A name found in the importing module itself belongs to that module, not to its folder.
    if (!found || !symbolIn(found, from)) this.symbols.set(key, found ?? null);
    return found;
  }

  /** `from a.b import C`: C in module a.b first, then a submodule a/b/C.py, then shorter module paths. */
  private findSymbol(from: ModuleAnalysis, anchor: string, parts: string[], relative: boolean, depth: number): PySymbol | undefined {
    const splits = [parts.length - 1, parts.length];
    for (let k = parts.length - 2; k >= (relative ? 0 : 1); k--) splits.push(k);
    for (const k of splits) {
      if (k < 0 || (k === 0 && !relative)) continue;
      const file = this.fileOfModule(anchor, parts.slice(0, k));
      if (!file) continue;
      const analysis = file === from.absPath ? from : this.analysisAt(file);
      if (!analysis) continue;
      let symbol: PySymbol | undefined = { kind: 'module', analysis };
      for (const attribute of parts.slice(k)) {
        if (symbol?.kind === 'module') symbol = symbol.analysis.symbol(attribute, depth + 1);
        else if (symbol?.kind === 'class') {
          const nested = symbol.ref.cls.nestedClasses.get(attribute);
          symbol = nested ? { kind: 'class', ref: { analysis: symbol.ref.analysis, cls: nested } } : undefined;
        } else symbol = undefined;
      }
      if (symbol) return symbol;
    }
    return undefined;
  }

  /** The module file (`.py` or a package's `__init__.py`) of `parts` in a folder of the search path. */
  private fileOfModule(base: string, parts: string[]): string | undefined {
    const target = path.join(base, ...parts);
    if (parts.length && this.isFile(`${target}.py`)) return `${target}.py`;
    const init = path.join(target, '__init__.py');
    return this.isFile(init) ? init : undefined;
  }

  private isFile(file: string): boolean {
    let known = this.files.get(file);
    if (known === undefined) this.files.set(file, (known = isFile(file)));
    this.asked.files.set(file, known);
    return known;
  }

  /**
   * The first folder an absolute import of `name` finds it in: the importing file's folder and every
   * folder above it up to the workspace folder (pytest puts test and conftest folders, and `python -m`
   * the working folder, on sys.path), then `src/` of the workspace folder.
   */
  private nearestWith(dir: string, name: string): string | undefined {
    const key = `${dir}\0${name}`;
    const cached = this.nearest.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let found: string | undefined;
    if (this.holds(dir, name) || this.holds(dir, `${name}.py`)) {
      found = dir;
    } else if (dir === this.rules.root) {
      // Then `src/`, and when the workspace folder is itself a package, the folder pytest's import
      // mode puts on sys.path for it: the first one above without an __init__.py.
      for (const candidate of [path.join(dir, 'src'), this.packageBase(dir)]) {
        if (candidate && (this.holds(candidate, name) || this.holds(candidate, `${name}.py`))) {
          found = candidate;
          break;
        }
      }
    } else if (dir !== this.rules.rootdir && parentOf(dir) !== dir) {
      found = this.nearestWith(parentOf(dir), name);
    }
    this.nearest.set(key, found ?? null);
    return found;
  }

  private packageBase(dir: string): string | undefined {
    let current = dir;
    while (this.holds(current, '__init__.py')) {
      if (parentOf(current) === current) return undefined;
      current = parentOf(current);
    }
    return current === dir ? undefined : current;
  }

  /** A folder's names the caller already read (the walk), so that they are not read again. */
  primeListing(dir: string, names: string[]): void {
    if (!this.listings.has(dir)) this.primed.set(dir, names);
  }

  private listing(dir: string): Set<string> | null {
    let names = this.listings.get(dir);
    if (names === undefined) {
      const primed = this.primed.get(dir);
      if (primed) {
        names = new Set(primed);
      } else {
        try {
          names = new Set(fs.readdirSync(dir));
        } catch {
          names = null;
        }
      }
      this.listings.set(dir, names);
    }
    return names;
  }

  /**
   * Whether the conftest.py files above `dir`, or the plugin modules they name, may parametrize tests
   * (fixture params, pytest_generate_tests, pytest_make_parametrize_id). Read from their text: nothing
   * is parsed unless one may.
   */
  fixturesMatter(dir: string): boolean {
    const files = this.conftestFiles(dir);
    let matters = this.mattering.get(files);
    if (matters === undefined) {
      matters = files.some(file => {
        const text = this.textOf(file);
        if (PARAMETRIZING.test(text)) return true;
        const plugins = /pytest_plugins\s*=\s*(\[[^\]]*\]|\([^)]*\)|"[^"]*"|'[^']*')/.exec(text);
        return [...(plugins?.[1].matchAll(/["']([\w.]+)["']/g) ?? [])].some(([, module]) => {
          const anchor = this.nearestWith(parentOf(file), module.split('.')[0]);
          const plugin = anchor && this.fileOfModule(anchor, module.split('.'));
          return plugin !== undefined && PARAMETRIZING.test(this.textOf(plugin));
        });
      });
      this.mattering.set(files, matters);
    }
    return matters;
  }

  /** The paths of the conftest.py files pytest reads for tests in `dir`, top down; nothing is parsed. */
  conftestFiles(dir: string): string[] {
    const cached = this.conftestChains.get(dir);
    if (cached) return cached;
    const parentDir = parentOf(dir);
    const parent = parentDir === dir ? [] : this.conftestFiles(parentDir);
    const chain = this.hasConftest(dir) ? [...parent, path.join(dir, 'conftest.py')] : parent;
    this.conftestChains.set(dir, chain);
    return chain;
  }

  /** Whether `from ... import name` (qualified) brings a fixture with params into a module; once per folder. */
  importsParametrizedFixture(into: ModuleAnalysis, dir: string, name: string, qualified: string): boolean {
    let known = this.paramsImports.get(dir);
    if (!known) this.paramsImports.set(dir, (known = new Map()));
    let answer = known.get(qualified);
    if (answer === undefined) {
      // A fixture with params is written in a module whose text says `params`.
      const symbol = this.moduleTextSays(into, qualified, 'params') ? into.symbol(name) : undefined;
      answer = symbol?.kind === 'function' && symbol.analysis.fixtureOf(symbol.def, false)?.params !== undefined;
      known.set(qualified, answer);
    }
    return answer;
  }

  /**
   * Whether the project module an absolute or relative dotted name points into (`pkg.mod.name`: pkg/mod.py
   * or pkg/mod/name.py) says `word`; false when it is not the project's. Nothing is parsed.
   */
  private moduleTextSays(from: ModuleAnalysis, qualified: string, word: string): boolean {
    const dots = /^\.*/.exec(qualified)![0];
    const parts = qualified.slice(dots.length).split('.').filter(Boolean);
    let anchor: string | undefined = parentOf(from.absPath);
    if (dots) for (let i = 1; i < dots.length; i++) anchor = parentOf(anchor);
    else anchor = parts.length ? this.nearestWith(anchor, parts[0]) : undefined;
    if (!anchor) return false;
    const key = `${anchor}\0${dots ? '.' : ''}${parts.join('.')}\0${word}`;
    let says = this.textSays.get(key);
    if (says === undefined) {
      says = false;
      for (let k = parts.length; k >= (dots ? 0 : 1) && !says; k--) {
        const file = this.fileOfModule(anchor, parts.slice(0, k));
        says = file !== undefined && this.textOf(file).includes(word);
      }
      this.textSays.set(key, says);
    }
    return says;
  }

  /** The fixtures of a folder's conftest files when they may parametrize tests (see fixturesMatter); one lookup per folder. */
  parametrizingFixtures(dir: string): FolderFixtures | undefined {
    let found = this.parametrizing.get(dir);
    if (found === undefined) this.parametrizing.set(dir, (found = this.fixturesMatter(dir) ? this.fixturesOf(dir) : null));
    return found ?? undefined;
  }

  /** A file's text (read once), for cheap looks before parsing. */
  textOf(file: string): string {
    this.asked.texts.add(file);
    let text = this.texts.get(file);
    if (text === undefined) {
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        text = '';
      }
      this.texts.set(file, text);
    }
    return text;
  }

  /** conftest.py files pytest reads for tests in `dir`: from the confcutdir (or the file system root) down. */
  conftests(dir: string): ModuleAnalysis[] {
    return this.fixturesOf(dir).conftests;
  }

  /** The fixtures and autouse names visible in a folder (before the test module's own). */
  fixturesOf(dir: string): FolderFixtures {
    const cached = this.folderFixtures.get(dir);
    if (cached) return cached;
    const parentDir = parentOf(dir);
    let result: FolderFixtures;
    if (parentDir === dir) {
      result = { conftests: [], byName: new Map(), autouse: [...this.rules.usefixtures], parametrized: false, generated: [], makesIds: false };
    } else {
      const parent = this.fixturesOf(parentDir);
      const conftest = this.conftestIn(dir);
      if (!conftest) {
        result = parent;
      } else {
        const generated = conftest.generatedArgnames();
        result = {
          conftests: [...parent.conftests, conftest], byName: new Map(parent.byName), autouse: [...parent.autouse], parametrized: parent.parametrized,
          generated: generated ? [...parent.generated, generated] : parent.generated,
          makesIds: parent.makesIds || conftest.functions.has('pytest_make_parametrize_id'),
        };
        // pytest_plugins modules register after the conftest, but their fixtures go before every conftest's.
        for (const plugin of conftest.pytestPlugins()) {
          const found = this.resolveSymbol(conftest, plugin, 1);
          if (found?.kind === 'module') addFixtures(result, found.analysis.moduleFixtures(), true);
        }
        addFixtures(result, conftest.moduleFixtures(), false);
      }
    }
    this.folderFixtures.set(dir, result);
    return result;
  }

  private conftestIn(dir: string): ModuleAnalysis | undefined {
    return this.hasConftest(dir) ? this.analysisAt(path.join(dir, 'conftest.py')) : undefined;
  }

  private hasConftest(dir: string): boolean {
    if (this.rules.noconftest) return false;
    const cut = this.rules.confcutdir;
    // pytest skips only the folders above the confcutdir.
    if (cut && cut !== dir && cut.startsWith(`${dir === '/' ? '' : dir}${path.sep}`)) return false;
    return this.holds(dir, 'conftest.py');
  }

  /** Whether a folder holds an entry of this name; from the walk's list of its names when there is one. */
  private holds(dir: string, name: string): boolean {
    const primed = this.listings.has(dir) ? undefined : this.primed.get(dir);
    const held = primed ? primed.includes(name) : (this.listing(dir)?.has(name) ?? false);
    this.asked.holds.set(`${dir}\0${name}`, held);
    return held;
  }

  /**
   * Every fact about the file system that what this instance answered depends on: the texts it read
   * (conftest.py files, imported modules, plugins), which names folders hold, which files exist. A
   * discovery made with this instance stays true while these do (the discovery cache checks them).
   */
  facts(): DependencyFacts {
    const texts = new Map<string, string>();
    for (const file of this.asked.texts) texts.set(file, this.texts.get(file) ?? '');
    return { texts, holds: new Map(this.asked.holds), files: new Map(this.asked.files) };
  }

  /** Whether the file system still answers as it did when `facts` were taken (reading through this instance). */
  stillHolds<Text>(facts: DependencyFacts<Text>, sameText: (file: string, text: string, was: Text) => boolean): boolean {
    for (const [key, held] of facts.holds) {
      const cut = key.indexOf('\0');
      if (this.holds(key.slice(0, cut), key.slice(cut + 1)) !== held) return false;
    }
    for (const [file, exists] of facts.files) if (this.isFile(file) !== exists) return false;
    for (const [file, was] of facts.texts) if (!sameText(file, this.textOf(file), was)) return false;
    return true;
  }

  dispose(): void {
    for (const tree of this.trees) tree.delete();
    this.trees.length = 0;
    this.analyses.clear();
  }
}

/** Adds fixture definitions; `front`: plugin fixtures, which pytest keeps before those of conftest files. */
export function addFixtures(into: { byName: Map<string, FixtureDecl[]>; autouse: string[]; parametrized: boolean }, fixtures: FixtureDecl[], front: boolean): void {
  for (const fixture of fixtures) {
    if (fixture.params) into.parametrized = true;
    const known = into.byName.get(fixture.name) ?? [];
    into.byName.set(fixture.name, front ? [fixture, ...known] : [...known, fixture]);
    if (fixture.autouse && !into.autouse.includes(fixture.name)) into.autouse.push(fixture.name);
  }
}

/** What in a conftest.py or plugin may parametrize the tests below it. */
const PARAMETRIZING = /params|pytest_generate_tests|pytest_make_parametrize_id/;

/** The folder of an absolute path (path.dirname without its normalizing, on the hot path of every folder). */
function parentOf(file: string): string {
  const slash = file.lastIndexOf('/');
  return slash > 0 ? file.slice(0, slash) : '/';
}

function symbolIn(symbol: PySymbol, analysis: ModuleAnalysis): boolean {
  return (symbol.kind === 'class' ? symbol.ref.analysis : symbol.analysis) === analysis;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
