// One parsed file → the tests pytest (or a launcher's unittest run) would collect from it, with the node
// ids pytest prints. Only module and class bodies are walked: test bodies never matter to discovery.
// Follows pytest's python.py and unittest.py: the module's namespace in `__dict__` order (imported
// classes and functions included), classes by python_classes or as unittest.TestCase subclasses,
// members along the MRO, and parametrization from fixtures, rank markers and parametrize marks.
import type { SyntaxNode } from './syntax';
import type { FileDiscovery, Framework, LauncherTemplate, MarkerDiagnostic, TestSpec } from '../types';
import type { CompiledConfig } from './config';
import {
  ModuleAnalysis, NEUTRAL_BASES, TEST_CASE_BASES, generatedTests, type Axis, type ClassRef, type FixtureDecl, type Mark, type MarkerInfo,
  type MpiMark, type NprocsMark, type ParallelMark, type Resolved, type TimeoutMark,
} from './modules';
import { addFixtures, type FolderFixtures, type ProjectModules } from './project';
import { argnamesOf, rangeOf, type Definition } from './pysyntax';
import { sourceOf, unparenthesize } from './scope';
import { compileRules, defaultRules, type CompiledRules } from './rules';

export type { MarkerInfo };
export { rangeOf };

export interface CollectedFile { discovery: FileDiscovery; markers: MarkerInfo[] }

/** The folder a file belongs to: its pytest rules and the project's other modules. */
export interface CollectContext { rules: CompiledRules; modules?: ProjectModules; absPath: string }

const MAX_PARAMETER_COMBINATIONS = 10_000;
const NO_FIXTURE_AXES: { axes: Resolved<Axis>[]; closure: string[] } = { axes: [], closure: [] };
const NO_NAMES: ReadonlySet<string> = new Set();
const NO_FIXTURES: FixtureView = { byName: new Map(), autouse: [], parametrized: false };
/** Names pytest never looks at in a module or class namespace. */
const IGNORED_NAMES = /^__\w+__$/;
const DOTTED = /^\(*[\p{L}_][\p{L}\p{N}_]*(\s*\.\s*[\p{L}_][\p{L}\p{N}_]*)*\)*$/u;

export function collectTests(root: SyntaxNode, file: string, config: CompiledConfig, context?: CollectContext): CollectedFile {
  const rules = context?.rules ?? compileRules(defaultRules(''));
  const absPath = context?.absPath ?? file;
  const analysis = context?.modules
    ? context.modules.analyze(root, absPath, file)
    : new ModuleAnalysis(root, file, absPath, { config, keepNonAsciiIds: rules.rules.keepNonAsciiIds });
  return new FileCollector(analysis, config, rules, context?.modules).collect(root);
}

/** Fixture definitions and autouse names visible in one place (a module, or a class in it). */
interface FixtureView { byName: Map<string, FixtureDecl[]>; autouse: string[]; parametrized: boolean }

/** Where a function is collected: its class (if any), the id prefix, the enclosing marks, a place in this file. */
interface Holder { cls?: ClassRef; prefix: string; marks: Mark[]; anchor: SyntaxNode; fixtures: FixtureView; generatesAll: boolean }

class FileCollector {
  private readonly tests: TestSpec[] = [];
  private readonly diagnostics: MarkerDiagnostic[] = [];
  private readonly launcher?: LauncherTemplate;
  private readonly file: string;
  /** Conftest and module hooks that parametrize tests at collection: argnames they parametrize, or 'all'. */
  private readonly generated: (Set<string> | 'all')[];
  /** Whether such a hook looks at the fixtures a test requests (so its closure matters). */
  private readonly generatesByName: boolean;
  private readonly makesParametrizeIds: boolean;
  private readonly folder?: FolderFixtures;
  /** The folder of the file, absolute. */
  private readonly dir: string;

  constructor(private readonly analysis: ModuleAnalysis, private readonly config: CompiledConfig, private readonly rules: CompiledRules, private readonly modules?: ProjectModules) {
    this.file = analysis.file;
    this.launcher = config.launcherFor(this.file);
    this.dir = analysis.absPath.slice(0, Math.max(1, analysis.absPath.lastIndexOf('/')));
    // The conftest files are parsed only when they may parametrize something.
    const folder = modules?.parametrizingFixtures(this.dir);
    this.folder = folder;
    const own = analysis.generatedArgnames();
    this.generated = own ? [...(folder?.generated ?? []), own] : folder?.generated ?? [];
    this.generatesByName = this.generated.some(g => g !== 'all');
    this.makesParametrizeIds = (folder?.makesIds ?? false) || analysis.functions.has('pytest_make_parametrize_id');
  }

  collect(root: SyntaxNode): CollectedFile {
    this.reportSyntaxError(root);
    const analysis = this.analysis;
    if (analysis.testAttribute?.type !== 'false') {
      const holder: Holder = { prefix: '', marks: analysis.marksOf(analysis.pytestmark), anchor: root, fixtures: this.moduleFixtures(root), generatesAll: false };
      for (const [name, entry] of analysis.entries) {
        if (entry.kind === 'module') continue;
        if (entry.kind === 'definition') {
          const def = entry.def;
          const condition = analysis.conditionOf(def);
          if (condition === 'never') continue;
          const cls = def.kind === 'class' ? analysis.classes.get(name) : undefined;
          this.collectUnder(condition, () => {
            if (cls) this.collectClass(name, { analysis, cls }, holder, def.nameNode);
            else if (def.kind === 'function' && !this.launcher && this.isTestFunction(name, analysis, def)) this.collectFunction(name, analysis, def, holder, def.nameNode);
          });
          continue;
        }
        // Names imported from other modules are collected here too, as pytest does; those from outside
        // the project are not looked into. A value names a class or function only when it is a (dotted)
        // name: `Alias = TestFoo`.
        // Only a class (of any name: a TestCase) or a function named as tests are can be collected.
        if (!/^_*[A-Z]/.test(name) && !this.rules.isTestFunctionName(name) && !this.rules.isTestClassName(name)) continue;
        if (IGNORED_NAMES.test(name) || (entry.kind === 'value' && !DOTTED.test(entry.node.text))) continue;
        const symbol = analysis.symbol(name);
        if (!symbol) {
          if (entry.kind === 'import' && !this.launcher) this.importedFromOutside(name, entry.qualified, holder);
          continue;
        }
        const anchor = entry.kind === 'value' ? entry.node : root;
        if (symbol.kind === 'class') {
          this.collectClass(name, symbol.ref, holder, symbol.ref.analysis === analysis ? symbol.ref.cls.nameNode : anchor);
        } else if (symbol.kind === 'function' && !this.launcher && this.isTestFunction(name, symbol.analysis, symbol.def)) {
          this.collectFunction(name, symbol.analysis, symbol.def, holder, symbol.analysis === analysis ? symbol.def.nameNode : anchor);
        }
      }
    }
    const tests = this.rules.rules.deselect.length ? this.tests.filter(t => !this.rules.isDeselected(t.id)) : this.tests;
    // Marks are read as tests need them; hovers and problems go back in source order.
    const markers = inSourceOrder(analysis.markers);
    const diagnostics = inSourceOrder(this.diagnostics.length ? [...this.diagnostics, ...analysis.diagnostics] : analysis.diagnostics);
    return { discovery: { file: this.file, tests, diagnostics }, markers };
  }

  /**
   * A test class or function a module imports from outside the project: pytest collects it here too,
   * but only the run knows its tests. Listed as one placeholder.
   */
  private importedFromOutside(name: string, qualified: string, holder: Holder): void {
    const isClass = /^[A-Z]/.test(name) && this.looksLikeTests(qualified) && this.rules.isTestClassName(name);
    if (!isClass && !(/^[a-z_]/.test(name) && this.rules.isTestFunctionName(name))) return;
    const test = this.identity(name, '', 'pytest', holder.anchor);
    test.ranks = 1;
    test.dynamic = `${name} comes from ${qualified.slice(0, qualified.lastIndexOf('.')) || qualified}, outside the project: only the run knows its tests`;
    this.tests.push(test);
  }

  // ---- classes ----

  /**
   * What pytest asks of a class, in one walk along its MRO. `testCase`: true for a unittest.TestCase
   * subclass, false for a plain class, or the base from outside the project that decides it. `test`:
   * its `__test__` (undefined when absent or not a literal). `constructor`: an `__init__` or `__new__`
   * of its own or inherited (pytest then warns instead of collecting it).
   */
  private classFacts(ref: ClassRef): { testCase: boolean | string; test: boolean | undefined; constructor: boolean; generates: boolean; testsFrom?: string } {
    let unknownBase: string | undefined;
    let testsFrom: string | undefined;
    let testCase = false;
    let test: boolean | undefined;
    let testFound = false;
    let constructor = false;
    let generates = false;
    for (const entry of ref.analysis.mro(ref.cls)) {
      if ('external' in entry) {
        if (TEST_CASE_BASES.has(entry.external)) testCase = true;
        else if (!NEUTRAL_BASES.has(entry.external)) unknownBase ??= entry.external;
        // A base written as other than a (dotted) name, `make_base()`, is a class only the run makes.
        if (!testsFrom && (this.looksLikeTests(entry.external) || !DOTTED.test(entry.external))) testsFrom = entry.external;
        continue;
      }
      const { members, assignments } = entry.cls;
      if (!testFound) {
        const value = assignments.get('__test__');
        if (value) test = value.type === 'true' ? true : value.type === 'false' ? false : undefined;
        testFound = value !== undefined || members.has('__test__');
      }
      if (members.has('__init__') || members.has('__new__')) constructor = true;
      if (members.has('pytest_generate_tests')) generates = true;
    }
    return { testCase: testCase || (unknownBase ?? false), test, constructor, generates, testsFrom };
  }

  /**
   * Whether a class from outside the project is likely to hold tests of its own (named as test classes
   * are, or `...Tests`), as opposed to a base like `APITestCase` or a helper mixin.
   */
  private looksLikeTests(qualified: string): boolean {
    const name = qualified.slice(qualified.lastIndexOf('.') + 1);
    // unittest's own TestProgram, TestSuite, TestLoader, ... hold no tests.
    if (TEST_CASE_BASES.has(qualified) || /Case$/.test(name) || !/^[A-Za-z_]\w*$/.test(name) || /^unittest\.\w+$/.test(qualified)) return false;
    return this.rules.isTestClassName(name) || /Tests$/.test(name);
  }

  private collectClass(name: string, ref: ClassRef, outer: Holder, anchor: SyntaxNode): void {
    const facts = this.classFacts(ref);
    const kind = facts.testCase;
    if (facts.test === false) return;
    if (facts.testsFrom && !this.launcher && (kind === true || this.rules.isTestClassName(name) || facts.test === true)) {
      const base = DOTTED.test(facts.testsFrom) ? `its base ${facts.testsFrom} is outside the project` : `its base \`${facts.testsFrom}\` is made at run time`;
      this.classPlaceholder(name, ref, outer, anchor, `${base}: only the run knows the tests it adds`);
      return;
    }
    if (kind === true) {
      this.collectTestCase(name, ref, outer, anchor);
      return;
    }
    // A launcher runs `unittest.main()`: only TestCase classes are tests there.
    if (this.launcher) return;
    const named = this.rules.isTestClassName(name) || facts.test === true;
    if (!named) {
      if (typeof kind === 'string' && this.hasTestMethods(ref)) {
        this.collectTestCase(name, ref, outer, anchor, `pytest collects ${name} only if its base ${kind} derives from unittest.TestCase`);
      }
      return;
    }
    if (facts.constructor) return;
    const prefix = outer.prefix ? `${outer.prefix}::${name}` : name;
    const holder: Holder = {
      cls: ref, prefix, marks: [...ref.analysis.classMarks(ref.cls), ...outer.marks], anchor,
      fixtures: this.classFixtures(ref, outer.fixtures), generatesAll: facts.generates,
    };
    const generated = ref.cls.bases.length || ref.cls.decorators.length || ref.cls.metaclass ? generatedTests(ref.analysis.mro(ref.cls)) : undefined;
    if (generated) {
      this.classPlaceholder(name, ref, outer, anchor, generated);
      return;
    }
    const unknownBase = typeof kind === 'string' ? `pytest parametrizes ${name} only if its base ${kind} derives from unittest.TestCase` : undefined;
    for (const { name: member, owner, def } of this.classMembers(ref)) {
      if (IGNORED_NAMES.test(member)) continue;
      const condition = owner.analysis.conditionOf(def);
      if (condition === 'never') continue;
      const memberAnchor = owner.analysis === this.analysis ? def.nameNode : anchor;
      this.collectUnder(condition, () => {
        if (def.kind === 'class') {
          const nested = owner.cls.nestedClasses.get(member);
          if (nested) this.collectClass(member, { analysis: owner.analysis, cls: nested }, holder, memberAnchor);
        } else if (this.isTestFunction(member, owner.analysis, def) && !def.decorators.some(d => /(^|\.)(classmethod|property)$/.test(d.text))) {
          this.collectFunction(member, owner.analysis, def, holder, memberAnchor, unknownBase);
        }
      });
    }
  }

  /**
   * Runs `collect` for a definition inside `if` branches: when only the run knows whether Python defines
   * it (`condition`, the reason), what it collects is dynamic, for pytest to settle.
   */
  private collectUnder(condition: string | undefined, collect: () => void): void {
    const before = this.tests.length;
    collect();
    if (!condition) return;
    for (let i = before; i < this.tests.length; i++) {
      const test = this.tests[i];
      test.dynamic = test.dynamic ? `${test.dynamic}; ${condition}` : condition;
    }
  }

  /**
   * A unittest.TestCase: every `test*` method along the MRO, sorted by name (unittest's loader), or
   * `runTest`; no parametrization. `unsure`: why it may not be a TestCase at all.
   */
  private collectTestCase(name: string, ref: ClassRef, outer: Holder, anchor: SyntaxNode, unsure?: string): void {
    const prefix = outer.prefix ? `${outer.prefix}::${name}` : name;
    const methods = new Map<string, { owner: ClassRef; def: Definition }>();
    for (const entry of ref.analysis.mro(ref.cls)) {
      if ('external' in entry) continue;
      for (const [member, def] of entry.cls.members) {
        if (def.kind === 'function' && !methods.has(member) && entry.analysis.conditionOf(def) !== 'never') methods.set(member, { owner: entry, def });
      }
    }
    let names = [...methods.keys()].filter(n => n.startsWith('test')).sort();
    if (!names.length && methods.has('runTest')) names = ['runTest'];
    const classMarks = [...ref.analysis.classMarks(ref.cls), ...outer.marks];
    let generated = generatedTests(ref.analysis.mro(ref.cls));
    for (const method of names) {
      const { owner, def } = methods.get(method)!;
      const decorator = generated ? undefined : owner.analysis.generatingDecorator(def);
      if (decorator) generated = `the decorator ${sourceOf(decorator)} replaces ${method} with generated tests`;
    }
    if (generated && !this.launcher) {
      this.classPlaceholder(name, ref, outer, anchor, unsure ? `${unsure}; ${generated}` : generated);
      return;
    }
    for (const method of names) {
      const { owner, def } = methods.get(method)!;
      this.collectUnder(owner.analysis.conditionOf(def), () => this.collectTestMethod(method, prefix, owner, def, anchor, classMarks, unsure));
    }
  }

  private collectTestMethod(method: string, prefix: string, owner: ClassRef, def: Definition, anchor: SyntaxNode, classMarks: Mark[], unsure?: string): void {
    const test = this.identity(method, prefix, 'pytest', owner.analysis === this.analysis ? def.nameNode : anchor);
    if (this.launcher) {
      test.framework = 'unittest';
      test.ranks = this.launcher.ranks && this.launcher.ranks > 0 ? this.launcher.ranks : null;
      if (test.ranks === null) test.dynamic = 'the launcher decides the rank count';
      test.launcher = this.launcher;
    } else {
      this.settleUnparametrized(test, [...owner.analysis.decoratorMarks(def), ...classMarks]);
      if (unsure) test.dynamic = test.dynamic ? `${test.dynamic}; ${unsure}` : unsure;
    }
    this.tests.push(test);
  }

  /**
   * A class whose tests only the run knows (a metaclass, `__init_subclass__` or a decorator may add or
   * rename them): one item under the id pytest runs the whole class by, ranks from the class's marks.
   */
  private classPlaceholder(name: string, ref: ClassRef, outer: Holder, anchor: SyntaxNode, reason: string): void {
    const test = this.identity(name, outer.prefix, 'pytest', anchor);
    this.settleUnparametrized(test, [...ref.analysis.classMarks(ref.cls), ...outer.marks]);
    test.dynamic = test.dynamic ? `${test.dynamic}; ${reason}` : reason;
    this.tests.push(test);
  }

  /** Members pytest visits: each class of the MRO in its own definition order, base classes' first. */
  private classMembers(ref: ClassRef): { name: string; owner: ClassRef; def: Definition }[] {
    if (!ref.cls.bases.length && !ref.cls.assignments.size) {
      const own: { name: string; owner: ClassRef; def: Definition }[] = [];
      ref.cls.members.forEach((def, name) => own.push({ name, owner: ref, def }));
      return own;
    }
    const seen = new Set<string>();
    const perClass: { name: string; owner: ClassRef; def: Definition }[][] = [];
    for (const entry of ref.analysis.mro(ref.cls)) {
      if ('external' in entry) continue;
      const values: { name: string; owner: ClassRef; def: Definition }[] = [];
      for (const [name, def] of entry.cls.members) {
        if (!seen.has(name)) values.push({ name, owner: entry, def });
      }
      for (const [name, value] of entry.cls.assignments) {
        const aliased = seen.has(name) ? undefined : aliasedMethod(entry, value);
        if (aliased) values.push({ name, ...aliased });
      }
      // A name bound in a class hides what its bases define under it, whatever the binding.
      for (const name of entry.cls.members.keys()) seen.add(name);
      for (const name of entry.cls.assignments.keys()) seen.add(name);
      perClass.push(values);
    }
    return perClass.length === 1 ? perClass[0] : perClass.reverse().flat();
  }

  private hasTestMethods(ref: ClassRef): boolean {
    return this.classMembers(ref).some(m => m.def.kind === 'function' && m.name.startsWith('test'));
  }

  private isTestFunction(name: string, analysis: ModuleAnalysis, def: Definition): boolean {
    if (def.kind !== 'function') return false;
    if (!this.rules.isTestFunctionName(name)) return false;
    return !analysis.isFixtureFunction(def);
  }

  // ---- fixtures ----

  /**
   * The fixtures of the module's tests: conftest.py files', then its own. Looked at only when one of them
   * may be parametrized (a conftest's, a `params` in this file, an imported fixture) or a hook asks
   * for fixture names: without, no test here gets parameters from fixtures.
   */
  private moduleFixtures(root: SyntaxNode): FixtureView {
    const folder = this.folder;
    const needed = folder?.parametrized || this.generatesByName || root.tree.text.includes('params') || this.importsParametrizedFixture();
    if (!needed) return NO_FIXTURES;
    const view: FixtureView = { byName: new Map(folder?.byName ?? []), autouse: [...(folder?.autouse ?? this.rules.rules.usefixtures)], parametrized: folder?.parametrized ?? false };
    addFixtures(view, this.analysis.moduleFixtures(), false);
    return view;
  }

  private importsParametrizedFixture(): boolean {
    const imports = this.analysis.fromImports;
    for (let i = 0; i < imports.length; i++) {
      const [name, qualified] = imports[i];
      // Still what the name is bound to (not rebound by a later definition or assignment)?
      const entry = this.analysis.entries.get(name);
      if (entry?.kind === 'import' && entry.qualified === qualified && this.modules?.importsParametrizedFixture(this.analysis, this.dir, name, qualified)) return true;
    }
    return false;
  }

  /** Fixtures defined in a class and its bases (pytest reads `dir()` of an instance: sorted names). */
  private classFixtures(ref: ClassRef, outer: FixtureView): FixtureView {
    // Nothing in the file says `params`: its class fixtures cannot be parametrized either.
    if (outer === NO_FIXTURES) return outer;
    let found: Map<string, FixtureDecl | undefined> | undefined;
    for (const entry of ref.analysis.mro(ref.cls)) {
      if ('external' in entry) continue;
      for (const [name, def] of entry.cls.members) {
        // The first class along the MRO defining a name wins; only decorated functions can be fixtures.
        if (found?.has(name)) continue;
        (found ??= new Map()).set(name, def.kind === 'function' && def.decorators.length ? entry.analysis.fixtureOf(def, true) : undefined);
      }
    }
    const fixtures = found && [...found].filter((entry): entry is [string, FixtureDecl] => entry[1] !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (!fixtures?.length) return outer;
    const view: FixtureView = { byName: new Map(outer.byName), autouse: [...outer.autouse], parametrized: outer.parametrized };
    addFixtures(view, fixtures.map(([, fixture]) => fixture), false);
    return view;
  }

  /**
   * The parametrizations pytest's fixture manager adds (fixtures.py pytest_generate_tests): the closure
   * of the fixtures the test requests, ordered by scope, and for each the closest parametrized definition.
   */
  private fixtureAxes(initial: string[], direct: ReadonlySet<string>, parametrized: ReadonlySet<string>, fixtures: FixtureView): { axes: Resolved<Axis>[]; closure: string[] } {
    const closure = [...fixtures.autouse];
    const merge = (names: string[]) => { for (const n of names) if (!closure.includes(n)) closure.push(n); };
    merge(initial);
    for (let i = 0; i < closure.length; i++) {
      const name = closure[i];
      if (direct.has(name)) continue;
      const defs = fixtures.byName.get(name);
      if (defs) merge(defs[defs.length - 1].argnames);
    }
    const scopeOf = (name: string) => { const defs = fixtures.byName.get(name); return defs ? defs[defs.length - 1].scope : 0; };
    const sorted = closure.map((name, index) => ({ name, index })).sort((a, b) => scopeOf(b.name) - scopeOf(a.name) || a.index - b.index).map(e => e.name);
    const axes: Resolved<Axis>[] = [];
    for (const name of sorted) {
      const defs = fixtures.byName.get(name);
      if (!defs || parametrized.has(name)) continue;
      for (let i = defs.length - 1; i >= 0; i--) {
        const def = defs[i];
        if (def.params) {
          axes.push(def.params);
          break;
        }
        if (!def.argnames.includes(name)) break;
      }
    }
    return { axes, closure: sorted };
  }

  // ---- tests ----

  // Test specs are built by assignment, not by spreading conditional objects: V8 runs such spreads through
  // a generic slow path, and discovery builds tens of thousands of specs before its code is optimized.

  /** A TestCase method or other test that pytest does not parametrize: its rank count from the closest rank marker. */
  private settleUnparametrized(test: TestSpec, marks: Mark[]): void {
    const rank = this.rankMarks(marks);
    test.framework = rank.parallel || rank.nprocs ? 'pytest_parallel' : rank.mpi ? 'pytest-mpi' : 'pytest';
    if (rank.timeout?.seconds) test.timeoutSeconds = rank.timeout.seconds;
    const count: Resolved<number> = rank.parallel
      ? (rank.parallel.counts ? { ok: rank.parallel.counts[0] } : mapResolved(rank.parallel.axis, a => a.ranks![0]))
      : rank.nprocs ? mapResolved(rank.nprocs.counts, c => c[0]) : this.mpiRanks(rank.mpi);
    if ('invalid' in count) test.invalid = count.invalid;
    else if ('dynamic' in count) test.dynamic = count.dynamic;
    else test.ranks = count.ok;
  }

  private rankMarks(marks: Mark[]): { parallel?: ParallelMark; nprocs?: NprocsMark; mpi?: MpiMark; timeout?: TimeoutMark } {
    const found: { parallel?: ParallelMark; nprocs?: NprocsMark; mpi?: MpiMark; timeout?: TimeoutMark } = {};
    for (const mark of marks) {
      if (mark.kind === 'parallel') found.parallel ??= mark;
      else if (mark.kind === 'nprocs') found.nprocs ??= mark;
      else if (mark.kind === 'mpi') found.mpi ??= mark;
      else if (mark.kind === 'timeout') found.timeout ??= mark;
    }
    return found;
  }

  private mpiRanks(mpi: MpiMark | undefined): Resolved<number> {
    if (!mpi) return { ok: 1 };
    return 'ok' in mpi.minSize ? { ok: mpi.minSize.ok ?? this.config.config.mpiDefaultRanks } : mpi.minSize as Resolved<number>;
  }

  /** `unsure`: why its class may be a TestCase (whose methods pytest never parametrizes). */
  private collectFunction(name: string, owner: ModuleAnalysis, fn: Definition, holder: Holder, anchor: SyntaxNode, unsure?: string): void {
    const ownMarks = owner.decoratorMarks(fn);
    for (let i = 0; i < ownMarks.length; i++) if (ownMarks[i].kind === 'fixture') return;
    // The names marks parametrize matter only when fixtures may parametrize this test too.
    const fixturesMatter = holder.fixtures.parametrized || this.generatesByName;
    const parallels: ParallelMark[] = [];
    const markAxes: Resolved<Axis>[] = [];
    let direct: Set<string> | undefined;
    let parametrized: Set<string> | undefined;
    let usefixtures: string[] | undefined;
    let mpi: MpiMark | undefined;
    let nprocs: NprocsMark | undefined;
    let ownNprocs = 0;
    let dynamicFixtures: string | undefined;
    // The nearest timeout mark wins, as pytest-timeout's get_closest_marker does.
    let timeout: TimeoutMark | undefined;
    // One pass, not an array method per kind of mark: discovery mostly runs before V8 optimizes it.
    const marks = holder.marks.length ? ownMarks.concat(holder.marks) : ownMarks;
    for (let i = 0; i < marks.length; i++) {
      const mark = marks[i];
      if (mark.kind === 'parallel') {
        parallels.push(mark);
        markAxes.push(mark.axis);
        // pytest_parallel's marker is parametrize("comm", counts, indirect=["comm"]).
        if (fixturesMatter) (parametrized ??= new Set()).add('comm');
      } else if (mark.kind === 'parametrize') {
        markAxes.push(mark.axis);
        if (fixturesMatter) {
          if (mark.argnames) for (const n of mark.argnames) (parametrized ??= new Set()).add(n);
          for (const n of mark.direct) (direct ??= new Set()).add(n);
        }
      } else if (mark.kind === 'mpi') {
        mpi ??= mark;
      } else if (mark.kind === 'nprocs') {
        nprocs ??= mark;
        if (i < ownMarks.length) ownNprocs++;
      } else if (mark.kind === 'timeout') {
        timeout ??= mark;
      } else if (mark.kind === 'usefixtures') {
        if (mark.names) (usefixtures ??= []).push(...mark.names);
        else dynamicFixtures = `usefixtures(${mark.node.text}) names its fixtures at run time`;
      }
    }
    const framework: Framework = parallels.length || nprocs ? 'pytest_parallel' : mpi ? 'pytest-mpi' : 'pytest';
    const base = this.identity(name, holder.prefix, framework, anchor);
    if (timeout?.seconds) base.timeoutSeconds = timeout.seconds;

    for (let i = 1; i < parallels.length; i++) {
      owner.report(parallels[i].node, 'error', 'pytest_parallel.mark.parallel is applied more than once to this test; pytest rejects the duplicate `comm` parameter');
    }
    // mpi-pytest expands a list of counts only from the marks written on the function itself.
    let nprocsAxis: Resolved<Axis> | undefined;
    let invalid: string | undefined = parallels.length > 1 ? 'more than one pytest_parallel.mark.parallel applies' : undefined;
    if (ownNprocs > 1) invalid ??= 'mpi-pytest: more than one parallel marker on this test';
    if (nprocs && !parallels.length && 'ok' in nprocs.counts && nprocs.counts.ok.length > 1) {
      if (ownNprocs) nprocsAxis = { ok: { ids: nprocs.counts.ok.map(n => `nprocs=${n}`), ranks: nprocs.counts.ok } };
      else invalid ??= 'mpi-pytest: a list of counts works only in a parallel marker on the test function itself';
    }
    const rankMark = parallels.length ? parallels[0].axis : nprocs ? nprocs.counts : mpi?.minSize;
    if (!invalid && rankMark && 'invalid' in rankMark) invalid = rankMark.invalid;

    // Without parametrized fixtures or hooks that look at them, the fixture closure changes nothing.
    const fixtures = fixturesMatter
      ? this.fixtureAxes([...(usefixtures ?? []), ...argnamesOf(fn.node, holder.cls !== undefined && !fn.decorators.some(d => d.text === 'staticmethod'))], direct ?? NO_NAMES, parametrized ?? NO_NAMES, holder.fixtures)
      : NO_FIXTURE_AXES;
    const axes = fixtures.axes.length || nprocsAxis ? [...fixtures.axes, ...(nprocsAxis ? [nprocsAxis] : []), ...markAxes] : markAxes;
    for (let i = 0; i < axes.length && !invalid; i++) if ('invalid' in axes[i]) invalid = (axes[i] as { invalid: string }).invalid;
    if (invalid) {
      base.invalid = invalid;
      this.tests.push(base);
      return;
    }

    let fixedRanks: Resolved<number> = nprocs && !nprocsAxis ? mapResolved(nprocs.counts, c => c[0]) : this.mpiRanks(mpi);
    if (parallels.length) fixedRanks = { ok: 1 };
    const dynamicReasons: string[] = [];
    if (dynamicFixtures) dynamicReasons.push(dynamicFixtures);
    if (holder.generatesAll || this.generated.length) {
      for (const generated of holder.generatesAll ? ['all' as const, ...this.generated] : this.generated) {
        if (generated === 'all' || fixtures.closure.some(n => generated.has(n))) {
          dynamicReasons.push('pytest_generate_tests parametrizes tests at collection');
          break;
        }
      }
    }
    if (this.makesParametrizeIds && axes.length) dynamicReasons.push('pytest_make_parametrize_id makes parameter ids at collection');
    if (unsure && axes.length) dynamicReasons.push(unsure);
    const known: Axis[] = [];
    for (let i = 0; i < axes.length; i++) {
      const axis = axes[i];
      if ('dynamic' in axis) dynamicReasons.push(axis.dynamic);
      else known.push((axis as { ok: Axis }).ok);
    }
    const combinations = dynamicReasons.length ? undefined : expand(known);
    if (!combinations) {
      // pytest still accepts the function's own id and runs every parametrization of it.
      const counts = parallels.length ? parallels[0].counts : nprocs && 'ok' in nprocs.counts ? nprocs.counts.ok : undefined;
      base.ranks = parallels.length || nprocs ? (counts && new Set(counts).size === 1 ? counts[0] : null) : 'ok' in fixedRanks ? fixedRanks.ok : null;
      if ('dynamic' in fixedRanks) dynamicReasons.push(fixedRanks.dynamic);
      base.dynamic = dynamicReasons.join('; ') || `more than ${MAX_PARAMETER_COMBINATIONS} parameter combinations`;
      this.tests.push(base);
      return;
    }
    const groupId = combinations.length > 1 ? base.id : undefined;
    const ranks = 'ok' in fixedRanks ? fixedRanks.ok : null;
    for (const combination of combinations) {
      const suffix = combination.ids.length ? `[${combination.ids.join('-')}]` : '';
      const test: TestSpec = { ...base, id: base.id + suffix, label: base.label + suffix, ranks: combination.ranks ?? ranks };
      if (groupId) test.groupId = groupId;
      if ('dynamic' in fixedRanks) test.dynamic = fixedRanks.dynamic;
      this.tests.push(test);
    }
  }

  /** A test as named in its file and classes; the caller settles its rank count (null until then). */
  private identity(name: string, prefix: string, framework: Framework, anchor: SyntaxNode): TestSpec {
    const test: TestSpec = {
      id: `${this.file}::${prefix ? `${prefix}::` : ''}${name}`,
      label: name,
      file: this.file,
      range: rangeOf(anchor),
      framework,
      ranks: null,
    };
    if (prefix) test.className = prefix;
    return test;
  }

  /**
   * pytest cannot import a file Python cannot parse: every test in it errors at collection. Said once,
   * at the first error, in the parser's words; the tests stay listed (the run shows Python's message).
   */
  private reportSyntaxError(root: SyntaxNode): void {
    const error = firstSyntaxError(root);
    if (!error) return;
    const what = error.isMissing ? `missing \`${error.type}\`` : error.text.trim() ? `unexpected \`${firstLine(error.text.trim())}\`` : 'invalid syntax';
    const line = error.startPosition.row + 1;
    this.diagnostics.push({
      file: this.file,
      range: { line, column: error.startPosition.column, endLine: line, endColumn: error.startPosition.column + 1 },
      severity: 'error',
      message: `syntax error (${what}): pytest cannot import this file, so its tests error at collection`,
      code: 'syntax-error',
    });
  }
}

function inSourceOrder<T extends { range: { line: number; column: number } }>(items: T[]): T[] {
  const before = (a: T, b: T) => a.range.line - b.range.line || a.range.column - b.range.column;
  for (let i = 1; i < items.length; i++) if (before(items[i - 1], items[i]) > 0) return items.sort(before);
  return items;
}

function mapResolved<T, U>(value: Resolved<T>, map: (value: T) => U): Resolved<U> {
  return 'ok' in value ? { ok: map(value.ok) } : value;
}

/** One test's parameter ids and rank count; like Axis, one object shape throughout. */
interface Combination { ids: string[]; ranks: number | undefined }

function expand(axes: Axis[]): Combination[] | undefined {
  let combinations: Combination[] = [{ ids: [], ranks: undefined }];
  for (const axis of axes) {
    if (combinations.length * axis.ids.length > MAX_PARAMETER_COMBINATIONS) return undefined;
    // Each new parametrization nests inside the existing ones, as pytest's Metafunc.parametrize does.
    const nested: Combination[] = [];
    for (const c of combinations) {
      for (let i = 0; i < axis.ids.length; i++) nested.push({ ids: c.ids.concat(axis.ids[i]), ranks: axis.ranks ? axis.ranks[i] : c.ranks });
    }
    combinations = nested;
  }
  return combinations;
}

/**
 * The function a class-body assignment binds under another name: `test_b = test_a` (a function of the same
 * body) or `test_x = Base.test_y` (scipy's linprog tests), found along Base's MRO; with the class that
 * defines it, whose body its decorators were read in.
 */
function aliasedMethod(entry: ClassRef, value: SyntaxNode): { owner: ClassRef; def: Definition } | undefined {
  const node = unparenthesize(value);
  if (node.type === 'identifier') {
    const local = entry.cls.members.get(node.text);
    return local?.kind === 'function' ? { owner: entry, def: local } : undefined;
  }
  let object = node.type === 'attribute' ? node.childForFieldName('object') : null;
  const attribute = node.childForFieldName('attribute')?.text;
  // `LCT = LinprogCommonTests` earlier in the same body, then `test_x = LCT.test_y`.
  if (object?.type === 'identifier') object = entry.cls.assignments.get(object.text) ?? object;
  const symbol = object && attribute ? entry.analysis.symbolOfExpression(object) : undefined;
  if (symbol?.kind !== 'class') return undefined;
  for (const base of symbol.ref.analysis.mro(symbol.ref.cls)) {
    if ('external' in base) return undefined;
    const def = base.cls.members.get(attribute!);
    if (def) return def.kind === 'function' ? { owner: base, def } : undefined;
    if (base.cls.assignments.has(attribute!)) return undefined;
  }
  return undefined;
}

/** The innermost first ERROR node or MISSING token, or null when the file parses cleanly. */
function firstSyntaxError(root: SyntaxNode): SyntaxNode | null {
  if (!root.hasError) return null;
  let node = root;
  for (;;) {
    if (node.type === 'ERROR' || node.isMissing) return node;
    const next = node.children.find(child => child.type === 'ERROR' || child.isMissing || child.hasError);
    if (!next) return node;
    node = next;
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 40 ? `${line.slice(0, 40)}…` : line;
}
