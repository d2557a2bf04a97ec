// One parsed Python module as pytest would see it after import: what its namespace binds (in `__dict__`
// order), its classes, the marks of its decorators, its fixtures and hooks. Names it imports from the
// project's other modules (base classes, fixtures, constants) are resolved through ProjectModules.
import type { SyntaxNode } from './syntax';
import type { MarkerDiagnostic, Severity, SourceRange } from '../types';
import type { CompiledConfig } from './config';
import { asciiEscapedStr } from './literals';
import {
  argnamesOf, argumentsOf, assignmentsOf, definitionOf, forEachDescendant, forEachStatement, rangeOf, type Branch, type Definition,
} from './pysyntax';
import { ModuleScope, idOf, joinModule, namedChildrenOf, sourceOf, unparenthesize, type PyValue, type ScopeContext, type SequenceItem } from './scope';

/** What a rank marker means for the run, for hovers. */
export interface MarkerInfo { range: SourceRange; summary: string }

export type Resolved<T> = { ok: T } | { dynamic: string } | { invalid: string };

/**
 * One parametrization as pytest expands it: an id per parameter set, in order, and for rank markers the
 * rank count of each. Always both fields: code V8 optimized for one object shape deoptimizes on another.
 */
export interface Axis { ids: string[]; ranks: number[] | undefined }

/** `counts`: the rank counts when known, even when the ids are not. */
export interface ParallelMark { kind: 'parallel'; node: SyntaxNode; axis: Resolved<Axis>; counts?: number[] }
export interface MpiMark { kind: 'mpi'; node: SyntaxNode; minSize: Resolved<number | undefined> }
/** mpi-pytest's `@pytest.mark.parallel(nprocs=...)`: rank counts, one test per count when several. */
export interface NprocsMark { kind: 'nprocs'; node: SyntaxNode; counts: Resolved<number[]> }
/** `argnames`: every name it parametrizes; `direct`: those not routed through a fixture (indirect). */
export interface ParametrizeMark { kind: 'parametrize'; node: SyntaxNode; axis: Resolved<Axis>; argnames: string[] | undefined; direct: string[] }
/** `@pytest.mark.timeout(S)`: seconds when a positive literal, else ignored (the setting applies). */
export interface TimeoutMark { kind: 'timeout'; node: SyntaxNode; seconds?: number }
export interface UseFixturesMark { kind: 'usefixtures'; node: SyntaxNode; names: string[] | undefined }

export type Mark =
  | ParallelMark
  | MpiMark
  | NprocsMark
  | ParametrizeMark
  | TimeoutMark
  | UseFixturesMark
  /** Not a mark: `@pytest.fixture` makes a `test_*` function a fixture instead of a test. */
  | { kind: 'fixture'; node: SyntaxNode };

export interface ClassInfo extends Definition {
  bases: readonly SyntaxNode[];
  /** `metaclass=...` among the bases, when given. */
  metaclass?: SyntaxNode;
  /** Body functions and classes in `__dict__` order; a redefinition keeps the first one's place. */
  members: Map<string, Definition>;
  nestedClasses: Map<string, ClassInfo>;
  /** Plain `name = value` assignments of the body, last one winning. */
  assignments: Map<string, SyntaxNode>;
}

export interface ClassRef { analysis: ModuleAnalysis; cls: ClassInfo }
/** A class of the method resolution order: one of the project's, or a base from elsewhere by name. */
export type MroEntry = ClassRef | { external: string };

export type PySymbol =
  | { kind: 'class'; ref: ClassRef }
  | { kind: 'function'; analysis: ModuleAnalysis; def: Definition }
  | { kind: 'value'; analysis: ModuleAnalysis; node: SyntaxNode }
  | { kind: 'module'; analysis: ModuleAnalysis };

/** A module-level name: what it is bound to last (its place in `__dict__` is where it was bound first). */
export type ModuleEntry =
  | { kind: 'definition'; def: Definition }
  /** `from M import N`: N may be a class or function of the project. */
  | { kind: 'import'; qualified: string }
  /** `import M`: binds a module, never a test. */
  | { kind: 'module'; qualified: string }
  | { kind: 'value'; node: SyntaxNode };

export interface FixtureDecl {
  name: string;
  argnames: string[];
  /** session 4 … function 0, for pytest's ordering of the fixture closure. */
  scope: number;
  autouse: boolean;
  /** The parametrization (ids) when the fixture has `params`. */
  params?: Resolved<Axis>;
  owner: ModuleAnalysis;
}

/** Looks up what other modules of the project define; absent for a file discovered on its own. */
export interface ModuleResolver {
  resolveSymbol(from: ModuleAnalysis, qualified: string, depth: number): PySymbol | undefined;
}

export interface AnalysisOptions {
  config: CompiledConfig;
  resolver?: ModuleResolver;
  keepNonAsciiIds: boolean;
}

const PARALLEL = 'pytest_parallel.mark.parallel';
const MPI = 'pytest.mark.mpi';
const MPI_PYTEST_PARALLEL = 'pytest.mark.parallel';
/** mpi-pytest's default when `@pytest.mark.parallel` has no count. */
const MPI_PYTEST_DEFAULT_NPROCS = 3;
const FIXTURE_DECORATORS = new Set(['pytest.fixture', 'pytest.yield_fixture', 'pytest_asyncio.fixture', '_pytest.fixtures.fixture']);
const SCOPES: Record<string, number> = { session: 4, package: 3, module: 2, class: 1, function: 0 };
/** unittest.TestCase and the library subclasses of it that projects derive from. */
export const TEST_CASE_BASES = new Set(['unittest.TestCase', 'unittest.IsolatedAsyncioTestCase', 'unittest.case.TestCase',
  'unittest.async_case.IsolatedAsyncioTestCase', 'django.test.TestCase', 'django.test.SimpleTestCase',
  'django.test.TransactionTestCase', 'django.test.LiveServerTestCase', 'numpy.testing.TestCase',
  'twisted.trial.unittest.TestCase', 'twisted.trial.unittest.SynchronousTestCase', 'absl.testing.absltest.TestCase']);
/** Bases known not to be TestCases and not to change how pytest collects a class. */
export const NEUTRAL_BASES = new Set(['object', 'abc.ABC', 'typing.Generic']);

/** Why a class's tests may differ from its source: a metaclass, `__init_subclass__` or a class decorator that may add tests. */
export function generatedTests(mro: MroEntry[]): string | undefined {
  for (const entry of mro) {
    if ('external' in entry) continue;
    const { analysis, cls } = entry;
    const meta = cls.metaclass && analysis.scope.qualify(cls.metaclass);
    if (cls.metaclass && (!meta || !PLAIN_METACLASSES.has(meta))) return `the metaclass ${sourceOf(cls.metaclass)} of ${cls.name} may add or rename its tests`;
    if (cls.members.has('__init_subclass__')) return `${cls.name}.__init_subclass__ may add or rename tests`;
    const decorator = analysis.generatingDecorator(cls);
    if (decorator) return `the class decorator ${sourceOf(decorator)} generates tests`;
  }
  return undefined;
}
const ENUM_BASES = new Set(['enum.Enum', 'enum.Flag']);
/** Enums whose str() depends on the Python version (3.11 changed it to the value). */
const VERSION_DEPENDENT_ENUMS = new Set(['enum.IntEnum', 'enum.IntFlag']);
const PRIMITIVE_BASES = new Set(['int', 'float', 'str', 'bytes', 'complex', 'bool']);
/** Hooks in a conftest.py or test module that change what pytest collects, beyond discovery's reach. */
const COLLECTION_HOOKS = ['pytest_collect_file', 'pytest_pycollect_makeitem', 'pytest_pycollect_makemodule', 'pytest_ignore_collect'];
const MAX_PARAMETER_SETS = 10_000;
/** Decorators (by their last name) that replace a test with generated ones. */
const GENERATING_DECORATORS = new Set(['expand', 'parameterized_class', 'ddt', 'data', 'idata', 'file_data', 'named_data', 'data_provider']);
/** Metaclasses that leave a class's namespace as written. */
const PLAIN_METACLASSES = new Set(['type', 'abc.ABCMeta', 'ABCMeta']);
/** Module-level statements that bind names only the run knows. */
const RUNTIME_NAMES = /^(globals\(\)\s*(\[|\.update\()|vars\(\)\s*\[|setattr\(\s*sys\.modules\[__name__\]|exec\s*\()/;
/** The same, anywhere in a module's text (in a function a decorator or a loop calls: scipy's KDTreeTest). */
const RUNTIME_NAMES_IN_TEXT = /globals\(\)\s*(\[[^\]\n]*\]\s*=(?!=)|\.update\()|setattr\(\s*sys\.modules\[__name__\]/;
/** In-place changes of a container: `[NAME]` stands for the name. */
const MUTATION = String.raw`(?<![\w.])[NAME]\s*(\[[^\]\n]*\]\s*(=(?!=)|[-+*/|&^%@]=)|\.(append|extend|insert|update|add|setdefault|pop|popitem|remove|discard|clear|sort|reverse)\s*\(|(\+|-|\*|\||&|\^)=)`;
export const MAX_BASE_DEPTH = 16;

export class ModuleAnalysis implements ScopeContext {
  readonly scope = new ModuleScope();
  /** Every module-level name in `__dict__` order. */
  readonly entries = new Map<string, ModuleEntry>();
  readonly classes = new Map<string, ClassInfo>();
  readonly functions = new Map<string, Definition>();
  pytestmark?: SyntaxNode;
  /** `__test__ = ...` at module level. */
  testAttribute?: SyntaxNode;
  readonly diagnostics: MarkerDiagnostic[] = [];
  readonly markers: MarkerInfo[] = [];
  /** Module-level assignments of collect_ignore / collect_ignore_glob, and statements that change them. */
  readonly ignoreLists = new Map<string, { value?: SyntaxNode; conditional: boolean; changes: SyntaxNode[] }>();
  private readonly marks = new Map<number, Mark | undefined>();
  private reported?: Set<string>;
  private fixtureCache?: Map<Definition, FixtureDecl | undefined>;
  private moduleFixtureList?: FixtureDecl[];
  private mroCache?: Map<ClassInfo, MroEntry[]>;
  private generateTestsArgs?: { names: Set<string> | 'all' } | null;
  /** The class whose body defines a function or class (absent at module level). */
  private readonly owners = new Map<Definition, ClassInfo>();
  private calledNames?: Set<string>;
  /** The `if` branches a definition (module-level, or a class member) sits in, when it sits in any. */
  private readonly branches = new Map<Definition, readonly Branch[]>();
  private moduleText?: string;
  /** Functions a module-level statement calls by name. */
  private readonly moduleCalls = new Set<string>();
  private mutated?: Map<string, boolean>;
  private importedSymbols?: Map<string, PySymbol | null>;
  /** `from M import N [as L]`: the local name and the dotted name, in order (later bindings may replace them). */
  readonly fromImports: [string, string][] = [];

  constructor(private readonly root: SyntaxNode, readonly file: string, readonly absPath: string, readonly options: AnalysisOptions) {
    this.scope.context = this;
    this.scan(root);
    this.noteRuntimeNamesInFunctions();
  }

  // ---- scanning: bindings, definitions, pytestmark ----

  private scan(root: SyntaxNode): void {
    forEachStatement(root, (statement, nested, branches) => {
      switch (statement.type) {
        case 'import_statement':
        case 'import_from_statement': {
          const bound = this.scope.bindImport(statement);
          const modules = statement.type === 'import_statement';
          for (let i = 0; i < bound.length; i++) {
            const [local, qualified] = bound[i];
            this.entries.set(local, modules ? { kind: 'module', qualified } : { kind: 'import', qualified });
            if (!modules) this.fromImports.push(bound[i]);
          }
          return;
        }
        case 'expression_statement':
          for (const expression of namedChildrenOf(statement)) this.scanExpression(expression, nested);
          return;
        default: {
          const definition = definitionOf(statement);
          if (definition) this.addDefinition(definition, branches);
        }
      }
    }, recovered => this.addDefinition(recovered));
  }

  private scanExpression(expression: SyntaxNode, nested: boolean): void {
    if (expression.type === 'augmented_assignment') {
      const target = expression.childForFieldName('left');
      if (target?.type === 'identifier') {
        this.scope.markRebound(target.text);
        this.ignoreLists.get(target.text)?.changes.push(expression);
      }
    }
    if (expression.type === 'call') {
      // `collect_ignore.append(...)` and friends.
      const callee = expression.childForFieldName('function');
      const object = callee?.type === 'attribute' ? callee.childForFieldName('object') : null;
      if (object?.type === 'identifier') this.ignoreLists.get(object.text)?.changes.push(expression);
    }
    if (expression.type === 'call') {
      this.noteRuntimeNames(expression);
      const callee = expression.childForFieldName('function');
      if (callee?.type === 'identifier') this.moduleCalls.add(callee.text);
    }
    for (const [target, value] of assignmentsOf(expression)) {
      if (target.type === 'identifier') {
        const name = target.text;
        if (name === 'pytestmark') this.pytestmark = value;
        if (name === '__test__') this.testAttribute = value;
        if (name === 'collect_ignore' || name === 'collect_ignore_glob') {
          const known = this.ignoreLists.get(name);
          if (known) known.changes.push(expression);
          else this.ignoreLists.set(name, { value, conditional: nested, changes: [] });
        }
        this.entries.set(name, { kind: 'value', node: value });
        this.classes.delete(name);
        this.functions.delete(name);
      } else if (target.type === 'subscript' || target.type === 'attribute') {
        if (target.type === 'subscript') this.noteRuntimeNames(expression);
        const object = target.childForFieldName(target.type === 'subscript' ? 'value' : 'object');
        if (object?.type === 'identifier') this.ignoreLists.get(object.text)?.changes.push(expression);
        // `rfftn = functools.partial(...)`, then `rfftn.__name__ = 'rfftn'` (scipy): pytest ids it by that name.
        const bound = object?.type === 'identifier' ? this.scope.binding(object.text) : undefined;
        if (bound?.kind === 'value' && target.childForFieldName('attribute')?.text === '__name__') {
          this.scope.rename(bound.node, value);
          continue;
        }
      }
      this.scope.bindAssignment(target, value);
    }
  }

  /**
   * `globals()[name] = ...`, `globals().update(...)`, `setattr(sys.modules[__name__], ...)`, `exec(...)`:
   * names only the run knows. The file's tests are then pytest's to list (exact.ts filesToResolve).
   */
  private noteRuntimeNames(expression: SyntaxNode): void {
    if (this.diagnostics.some(d => d.code === 'runtime-names') || !RUNTIME_NAMES.test(expression.text)) return;
    // `exec(code, namespace)` binds in that namespace, not in the module (sympy's printing tests).
    const args = expression.type === 'call' && /^exec\b/.test(expression.text) ? argumentsOf(expression) : undefined;
    if (args && args.positional.length >= 2 && !/^(globals|vars)\(\s*\)$/.test(args.positional[1].text)) return;
    this.report(expression, 'info', 'this module adds names at run time (globals(), setattr, exec): only pytest\'s own collection lists all its tests, ' +
      'which `distest list --exact` and the editor\'s background pass ask it for', 'runtime-names');
  }

  /**
   * Whether pytest finds a definition the `if` branches it sits in decide: 'never' when a condition is known
   * to send Python elsewhere (`if False:`, `if __name__ == "__main__":`), the reason when only the run
   * knows (`if sys.version_info < (3, 9):`, `if has_cholmod:`), undefined when it always does.
   */
  conditionOf(definition: Definition): 'never' | string | undefined {
    const branches = this.branches.get(definition);
    if (!branches) return undefined;
    let unknown: string | undefined;
    for (const { condition, when } of branches) {
      const truth = this.truthOf(condition);
      if (truth === undefined) unknown ??= sourceOf(condition);
      else if (truth !== when) return 'never';
    }
    return unknown === undefined ? undefined : `defined under \`if ${unknown}\`: only the run knows whether pytest finds it`;
  }

  private truthOf(condition: SyntaxNode): boolean | undefined {
    const node = unparenthesize(condition);
    if (node.type === 'not_operator') {
      const inner = node.childForFieldName('argument');
      const truth = inner ? this.truthOf(inner) : undefined;
      return truth === undefined ? undefined : !truth;
    }
    // A module pytest imports is never `__main__`.
    if (/^__name__\s*==\s*(['"])__main__\1$/.test(node.text)) return false;
    const value = this.scope.evaluate(node);
    switch (value.kind) {
      case 'bool': return value.value;
      case 'none': return false;
      case 'int': return value.value !== 0n;
      case 'str':
      case 'bytes': return value.value.length > 0;
      default: return undefined;
    }
  }

  /**
   * A module-level function that adds names to the module when the import runs it: as a decorator or from
   * a module-level call (a test that does so at run time adds them after collection).
   */
  private noteRuntimeNamesInFunctions(): void {
    if (this.diagnostics.some(d => d.code === 'runtime-names')) return;
    const match = RUNTIME_NAMES_IN_TEXT.exec(this.text());
    if (!match) return;
    const maker = [...this.functions.values()].find(f => f.node.startIndex <= match.index && match.index < f.node.endIndex);
    if (maker && this.runsAtImport(maker.name)) {
      this.report(maker.nameNode, 'info', `${maker.name} adds names to this module at run time (globals()): only pytest's own collection lists all its tests, ` +
        'which `distest list --exact` and the editor\'s background pass ask it for', 'runtime-names');
    }
  }

  /** Whether a module-level decorator or call statement names this function (`@KDTreeTest`, `_add(name)` in a loop). */
  private runsAtImport(name: string): boolean {
    const named = (node: SyntaxNode | null | undefined) => node?.text.replace(/\(.*$/s, '').trim() === name;
    for (const entry of this.entries.values()) {
      if (entry.kind !== 'definition') continue;
      if (entry.def.decorators.some(named)) return true;
      const cls = this.classes.get(entry.def.name);
      if (cls && [...cls.members.values()].some(member => member.decorators.some(named))) return true;
    }
    return this.moduleCalls.has(name);
  }

  private text(): string {
    return (this.moduleText ??= this.root.text);
  }

  isMutated(name: string): boolean {
    const known = (this.mutated ??= new Map()).get(name);
    if (known !== undefined) return known;
    // A Python name is letters, digits and underscores: nothing a pattern would read as syntax.
    const mutated = new RegExp(MUTATION.replace('[NAME]', name), 'u').test(this.text());
    this.mutated.set(name, mutated);
    return mutated;
  }

  private addDefinition(definition: Definition, branches: readonly Branch[] = []): void {
    this.scope.bindDefinition(definition.name, definition.kind === 'class');
    this.entries.set(definition.name, { kind: 'definition', def: definition });
    if (branches.length) this.branches.set(definition, branches);
    if (definition.kind === 'class') {
      this.classes.set(definition.name, scanClass(definition, this.owners, this.branches));
      this.functions.delete(definition.name);
    } else {
      this.functions.set(definition.name, definition);
      this.classes.delete(definition.name);
    }
  }

  /** The hook functions this module defines (conftest.py or test module). */
  collectionHooks(): Definition[] {
    return COLLECTION_HOOKS.map(name => this.functions.get(name)).filter((d): d is Definition => d !== undefined);
  }

  // ---- names: symbols, base classes, values from other modules ----

  /** What a module-level name is: a class or function of the project, a value, a module, or undefined. */
  symbol(name: string, depth = 0): PySymbol | undefined {
    if (depth > MAX_BASE_DEPTH) return undefined;
    const entry = this.entries.get(name);
    if (entry?.kind === 'import' || entry?.kind === 'module') {
      // Asked again by each reader of the module (fixtures, collection): resolved once.
      const known = this.importedSymbols?.get(name);
      if (known !== undefined) return known ?? undefined;
      const found = this.options.resolver?.resolveSymbol(this, entry.qualified, depth + 1);
      (this.importedSymbols ??= new Map()).set(name, found ?? null);
      return found;
    }
    if (entry?.kind === 'definition') {
      const cls = this.classes.get(name);
      if (cls) return { kind: 'class', ref: { analysis: this, cls } };
      return { kind: 'function', analysis: this, def: entry.def };
    }
    if (entry?.kind === 'value') {
      // `Alias = SomeClass` or `alias = module.function`: the object it names.
      const node = unparenthesize(entry.node);
      if (node.type === 'identifier' && node.text !== name) return this.symbol(node.text, depth + 1) ?? { kind: 'value', analysis: this, node: entry.node };
      if (node.type === 'attribute') return this.symbolOfExpression(node, depth + 1) ?? { kind: 'value', analysis: this, node: entry.node };
      return { kind: 'value', analysis: this, node: entry.node };
    }
    if (!entry) {
      for (let i = this.scope.wildcardModules.length - 1; i >= 0; i--) {
        const found = this.options.resolver?.resolveSymbol(this, joinModule(this.scope.wildcardModules[i], name), depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  }

  /** The symbol an expression like `Base`, `mod.Base` or `Outer.Inner` names, when it is the project's. */
  symbolOfExpression(node: SyntaxNode, depth = 0): PySymbol | undefined {
    const target = unparenthesize(node);
    if (target.type === 'identifier') return this.symbol(target.text, depth);
    if (target.type !== 'attribute') return undefined;
    const object = target.childForFieldName('object');
    const attribute = target.childForFieldName('attribute');
    if (!object || !attribute) return undefined;
    const owner = this.symbolOfExpression(object, depth + 1);
    if (owner?.kind === 'module') return owner.analysis.symbol(attribute.text, depth + 1);
    if (owner?.kind === 'class') {
      const nested = owner.ref.cls.nestedClasses.get(attribute.text);
      return nested ? { kind: 'class', ref: { analysis: owner.ref.analysis, cls: nested } } : undefined;
    }
    if (!owner) {
      const qualified = this.scope.qualify(target);
      if (qualified && this.options.resolver) return this.options.resolver.resolveSymbol(this, qualified, depth + 1);
    }
    return undefined;
  }

  /** A base class expression: a class of the project, or a class from elsewhere by qualified name. */
  baseOf(node: SyntaxNode, self: ClassInfo): MroEntry {
    let target = unparenthesize(node);
    // `Generic[T]`, `Base[int]`: the class is what is subscripted.
    if (target.type === 'subscript') target = target.childForFieldName('value') ?? target;
    // A class nested in another sees the classes defined before it in that class body.
    const outer = this.owners.get(self);
    const sibling = target.type === 'identifier' ? outer?.nestedClasses.get(target.text) : undefined;
    if (sibling && sibling !== self) return { analysis: this, cls: sibling };
    if (target.type === 'identifier' && this.scope.binding(target.text)?.kind === 'definition') {
      const cls = this.classes.get(target.text);
      if (cls && cls !== self) return { analysis: this, cls };
    }
    const found = target.type === 'identifier' && this.classes.get(target.text) === self ? undefined : this.symbolOfExpression(target);
    if (found?.kind === 'class') return found.ref;
    return { external: this.scope.qualify(target) ?? sourceOf(target) };
  }

  /** The C3 method resolution order of a class, with bases from outside the project as leaves. */
  mro(cls: ClassInfo, depth = 0): MroEntry[] {
    const cache = (this.mroCache ??= new Map());
    const cached = cache.get(cls);
    if (cached) return cached;
    const self: ClassRef = { analysis: this, cls };
    if (!cls.bases.length || depth > MAX_BASE_DEPTH) {
      const alone = [self];
      cache.set(cls, alone);
      return alone;
    }
    cache.set(cls, [self]); // a cycle (broken code) ends here
    const bases = cls.bases.map(b => this.baseOf(b, cls));
    const linearized = bases.map(b => ('external' in b ? [b] : b.analysis.mro(b.cls, depth + 1)));
    const merged = c3Merge([...linearized, bases]);
    const result = [self, ...(merged ?? linearized.flat())];
    cache.set(cls, result);
    return result;
  }

  // ---- ScopeContext: what this module's classes and imports mean as values ----

  importedValue(qualified: string, depth: number): PyValue | null | undefined {
    if (depth > MAX_BASE_DEPTH) return null;
    const found = this.options.resolver?.resolveSymbol(this, qualified, depth);
    if (!found) {
      // `Mode.FAST` of an enum imported from the project.
      const dot = qualified.lastIndexOf('.');
      const owner = dot > 0 ? this.options.resolver?.resolveSymbol(this, qualified.slice(0, dot), depth) : undefined;
      if (owner?.kind !== 'class') return undefined;
      return owner.ref.analysis.classAttribute(owner.ref.cls.name, qualified.slice(dot + 1)) ?? null;
    }
    switch (found.kind) {
      case 'class': return { kind: 'named', name: found.ref.cls.name };
      case 'function': return { kind: 'named', name: found.def.name };
      case 'value': {
        const value = found.analysis.scope.evaluate(found.node, depth + 1);
        return value.kind === 'unknown' ? null : value;
      }
      case 'module': return null;
    }
  }

  isCalled(dotted: string): boolean {
    if (!this.calledNames) {
      const called = new Set<string>();
      forEachDescendant(this.root, node => {
        if (node.type === 'call') called.add(node.childForFieldName('function')?.text.replace(/\s+/g, '') ?? '');
      });
      this.calledNames = called;
    }
    return this.calledNames.has(dotted);
  }

  classAttribute(className: string, attribute: string): PyValue | undefined {
    const cls = this.classes.get(className);
    if (!cls) return undefined;
    const kind = this.enumKind(cls);
    if (kind === undefined) {
      const nested = cls.nestedClasses.get(attribute);
      return nested ? { kind: 'named', name: nested.name } : undefined;
    }
    const member = enumMemberName(cls, attribute, this.scope);
    if (!member || kind === 'dynamic') return undefined;
    if (kind === 'str') {
      const value = this.scope.evaluate(cls.assignments.get(member)!);
      return value.kind === 'str' ? value : undefined;
    }
    return { kind: 'formatted', text: `${cls.name}.${member}` };
  }

  instanceOf(className: string): PyValue | undefined {
    const cls = this.classes.get(className);
    return cls ? this.instanceKind({ analysis: this, cls }) : undefined;
  }

  importedInstance(qualified: string): PyValue | null | undefined {
    const found = this.options.resolver?.resolveSymbol(this, qualified, 1);
    if (found?.kind === 'value') return null; // sympy's `ZZ(2)`: a called instance returns what only the run knows
    return found?.kind === 'class' ? found.ref.analysis.instanceKind(found.ref) : undefined;
  }

  /** Instances of a plain class are named argname + index; enums and subclasses of str, int, ... only the run knows. */
  private instanceKind(ref: ClassRef): PyValue | undefined {
    for (const entry of ref.analysis.mro(ref.cls)) {
      if ('external' in entry) {
        if (PRIMITIVE_BASES.has(entry.external) || entry.external.startsWith('enum.')) return undefined;
      } else if (entry.cls.members.has('__new__')) {
        return undefined;
      }
    }
    return { kind: 'opaque' };
  }

  /**
   * How str() shows a member: 'enum' as `Class.NAME`, 'str' as its value (StrEnum), 'dynamic' when it
   * depends on the Python version (IntEnum, IntFlag: 3.11 changed them); undefined: not an enum.
   */
  private enumKind(cls: ClassInfo): 'enum' | 'str' | 'dynamic' | undefined {
    let kind: 'enum' | 'str' | 'dynamic' | undefined;
    for (const entry of this.mro(cls)) {
      if (!('external' in entry)) continue;
      if (VERSION_DEPENDENT_ENUMS.has(entry.external)) return 'dynamic';
      if (entry.external === 'enum.StrEnum') return 'str';
      if (ENUM_BASES.has(entry.external)) kind = 'enum';
    }
    return kind;
  }

  // ---- marks ----

  decoratorMarks(definition: Definition): Mark[] {
    const decorators = definition.decorators;
    if (!decorators.length) return [];
    const previous = this.enterScopeOf(definition);
    const marks: Mark[] = [];
    // The decorator nearest the def is applied first, and pytest lists marks in application order.
    for (let i = decorators.length - 1; i >= 0; i--) {
      const mark = this.markOf(decorators[i]);
      if (mark) marks.push(mark);
    }
    this.scope.classScope = previous;
    return marks;
  }

  /**
   * A decorator of a test class or of a unittest method that generates tests in place of the ones
   * written (parameterized.expand, ddt's data, libcst's data_provider, parameterized_class).
   */
  generatingDecorator(definition: Definition): SyntaxNode | undefined {
    return definition.decorators.find(d => {
      const node = unparenthesize(d);
      const callee = node.type === 'call' ? node.childForFieldName('function') : node;
      const name = callee?.text.replace(/\s+/g, '') ?? '';
      return GENERATING_DECORATORS.has(name.slice(name.lastIndexOf('.') + 1));
    });
  }

  /** Whether `@pytest.fixture` makes this function a fixture (so not a test). */
  isFixtureFunction(definition: Definition): boolean {
    const decorators = definition.decorators;
    if (!decorators.length) return false;
    const previous = this.enterScopeOf(definition);
    let fixture = false;
    for (let i = 0; i < decorators.length && !fixture; i++) fixture = this.markOf(decorators[i])?.kind === 'fixture';
    this.scope.classScope = previous;
    return fixture;
  }

  /** Makes the class body a definition sits in the scope names resolve in first; returns the scope to restore. */
  private enterScopeOf(definition: Definition): ModuleScope['classScope'] {
    const previous = this.scope.classScope;
    this.scope.classScope = this.owners.get(definition);
    return previous;
  }

  /**
   * Runs `read` with the names of the class body a definition sits in visible first, as Python
   * evaluates its decorators there (a class body's `pytestmark` too: `inScopeOf(cls, ..., true)`).
   */
  private inScopeOf<T>(definition: Definition, read: () => T, inside = false): T {
    const cls = inside ? (definition as ClassInfo) : this.owners.get(definition);
    const previous = this.scope.classScope;
    this.scope.classScope = cls;
    try {
      return read();
    } finally {
      this.scope.classScope = previous;
    }
  }

  /** The marks of a `pytestmark = ...` value: one mark or a list of them. */
  marksOf(value: SyntaxNode | undefined): Mark[] {
    if (!value) return [];
    const node = unparenthesize(value);
    const elements = node.type === 'list' || node.type === 'tuple' ? namedChildrenOf(node) : [node];
    return elements.map(e => this.markOf(e)).filter((m): m is Mark => m !== undefined);
  }

  /** Whether a class has its own `pytestmark` in its `__dict__` (a body assignment or mark decorators). */
  hasOwnPytestmark(cls: ClassInfo): boolean {
    return cls.assignments.has('pytestmark') || this.inScopeOf(cls, () => cls.decorators.some(d => this.markOf(d) !== undefined || this.isMarkDecorator(d)));
  }

  /** A class's marks as pytest reads them: `pytestmark` found along the MRO, then its own decorators bottom-up. */
  classMarks(cls: ClassInfo, depth = 0): Mark[] {
    let inherited: Mark[] = [];
    if (cls.assignments.has('pytestmark')) {
      inherited = this.inScopeOf(cls, () => this.marksOf(cls.assignments.get('pytestmark')), true);
    } else if (depth < MAX_BASE_DEPTH) {
      for (const entry of this.mro(cls).slice(1)) {
        if ('external' in entry) continue;
        if (entry.analysis.hasOwnPytestmark(entry.cls)) {
          inherited = entry.analysis.classMarks(entry.cls, depth + 1);
          break;
        }
      }
    }
    return [...inherited, ...this.decoratorMarks(cls)];
  }

  private isMarkDecorator(expression: SyntaxNode): boolean {
    const node = unparenthesize(expression);
    const callee = node.type === 'call' ? node.childForFieldName('function') : node;
    return callee ? (this.scope.qualify(callee) ?? '').startsWith('pytest.mark.') : false;
  }

  /** The expression a name holds when it may be a mark: a class-body assignment, else a module-level one bound once. */
  private keptMark(name: string): { node: SyntaxNode; inClass: boolean } | undefined {
    const inClass = this.scope.classScope?.assignments.get(name);
    if (inClass) return { node: inClass, inClass: true };
    if (this.scope.classScope?.members.has(name)) return undefined;
    const binding = this.scope.binding(name);
    return binding?.kind === 'value' ? { node: binding.node, inClass: false } : undefined;
  }

  markOf(expression: SyntaxNode, depth = 0): Mark | undefined {
    if (this.marks.has(expression.id)) return this.marks.get(expression.id);
    const node = unparenthesize(expression);
    const kept = node.type === 'identifier' && depth < MAX_BASE_DEPTH ? this.keptMark(node.text) : undefined;
    if (kept) {
      // A mark kept in a name (`parametrize_arrays = pytest.mark.parametrize(...)`, then `@parametrize_arrays`),
      // read where Python made it: in the class body that binds the name, else at module level.
      const previous = this.scope.classScope;
      if (!kept.inClass) this.scope.classScope = undefined;
      try {
        const mark = this.markOf(kept.node, depth + 1);
        this.marks.set(expression.id, mark);
        return mark;
      } finally {
        this.scope.classScope = previous;
      }
    }
    const call = node.type === 'call' ? node : undefined;
    const callee = call ? call.childForFieldName('function') : node;
    const name = callee ? this.scope.qualify(callee) : undefined;
    let mark: Mark | undefined;
    if (name === PARALLEL) mark = this.readParallel(node, call);
    else if (name === MPI) mark = { kind: 'mpi', node, minSize: this.readMpi(node, call) };
    else if (name === MPI_PYTEST_PARALLEL) mark = { kind: 'nprocs', node, counts: this.readNprocs(node, call) };
    else if (name === 'pytest.mark.parametrize') mark = this.readParametrize(node, call);
    else if (name && FIXTURE_DECORATORS.has(name)) mark = { kind: 'fixture', node };
    else if (name === 'pytest.mark.timeout') mark = { kind: 'timeout', node, ...this.readTimeout(call) };
    else if (name === 'pytest.mark.usefixtures') mark = { kind: 'usefixtures', node, names: this.readUseFixtures(call) };
    else if (name === 'pytest.mark.mpi_skip' || name === 'pytest.mark.mpi_break') {
      this.markers.push({ range: rangeOf(node), summary: 'pytest-mpi: skipped when pytest runs with --with-mpi; distest runs this test on 1 rank, without mpirun' });
    } else if (name === 'pytest.mark.mpi_xfail') {
      this.markers.push({ range: rangeOf(node), summary: 'pytest-mpi: expected to fail when pytest runs with --with-mpi; distest runs this test on 1 rank, without mpirun' });
    }
    this.marks.set(expression.id, mark);
    return mark;
  }

  private readTimeout(call: SyntaxNode | undefined): { seconds?: number } {
    const args = argumentsOf(call);
    const valueNode = args.positional[0] ?? args.keywords.get('timeout');
    const value = valueNode ? this.scope.evaluate(valueNode) : undefined;
    const seconds = value?.kind === 'int' ? Number(value.value) : value?.kind === 'float' ? value.value : 0;
    return seconds > 0 ? { seconds } : {};
  }

  private readUseFixtures(call: SyntaxNode | undefined): string[] | undefined {
    const args = argumentsOf(call);
    if (args.unpacked || args.keywords.size) return undefined;
    const names: string[] = [];
    for (const arg of args.positional) {
      const value = this.scope.evaluate(arg);
      if (value.kind !== 'str') return undefined;
      names.push(value.value);
    }
    return names;
  }

  private readParallel(node: SyntaxNode, call: SyntaxNode | undefined): ParallelMark {
    const args = argumentsOf(call);
    const count = args.positional[0] ?? args.keywords.get('n_proc_list') ?? args.keywords.get('n_procs');
    let counts: Resolved<number[]>;
    if (!call || !count) counts = { invalid: `${PARALLEL} needs a rank count, e.g. parallel(2) or parallel([2, 4])` };
    else if (args.positional.length + args.keywords.size > 1 || args.unpacked) counts = { invalid: `${PARALLEL} takes one argument: a rank count or a list of counts` };
    else counts = this.rankCounts(node, count, PARALLEL, c => ({ ok: c }));
    if ('invalid' in counts) this.report(node, 'error', counts.invalid);
    this.markers.push({
      range: rangeOf(node),
      summary: 'ok' in counts ? `pytest_parallel: ${runsOn(counts.ok)}` : 'invalid' in counts ? counts.invalid : `pytest_parallel: ${counts.dynamic}`,
    });
    return 'ok' in counts
      ? { kind: 'parallel', node, axis: uniqueAxis(counts.ok.map(String), counts.ok), counts: counts.ok }
      : { kind: 'parallel', node, axis: counts };
  }

  /** mpi-pytest's parallel marker: `parallel`, `parallel()`, `parallel(N)`, `parallel([N, M])`, `parallel(nprocs=...)`. */
  private readNprocs(node: SyntaxNode, call: SyntaxNode | undefined): Resolved<number[]> {
    const args = argumentsOf(call);
    const what = `${MPI_PYTEST_PARALLEL} (mpi-pytest)`;
    let counts: Resolved<number[]>;
    if (args.unpacked) counts = { dynamic: 'parallel marker arguments are only known at run time' };
    else if (!args.positional.length && !args.keywords.size) counts = { ok: [MPI_PYTEST_DEFAULT_NPROCS] };
    else if (args.positional.length === 1 && !args.keywords.size) counts = this.rankCounts(node, args.positional[0], what, c => ({ ok: c }));
    else if (!args.positional.length && args.keywords.size === 1 && args.keywords.has('nprocs')) counts = this.rankCounts(node, args.keywords.get('nprocs')!, what, c => ({ ok: c }));
    else counts = { invalid: `${what}: bad arguments; write parallel(N), parallel([N, M]) or parallel(nprocs=N)` };
    if ('invalid' in counts) this.report(node, 'error', counts.invalid);
    this.markers.push({
      range: rangeOf(node),
      summary: 'ok' in counts
        ? `mpi-pytest: ${runsOn(counts.ok)}${args.positional.length || args.keywords.size ? '' : ' (no count: the plugin\'s default)'}`
        : 'invalid' in counts ? counts.invalid : `mpi-pytest: ${counts.dynamic}`,
    });
    return counts;
  }

  private rankCounts<T>(node: SyntaxNode, countNode: SyntaxNode, what: string, make: (counts: number[]) => Resolved<T>): Resolved<T> {
    const value = this.scope.evaluate(countNode);
    if (value.kind === 'unknown' || (value.kind === 'opaque' && value.assumed)) return { dynamic: `rank count \`${sourceOf(countNode)}\` is computed at run time` };
    const items: SequenceItem[] = value.kind === 'sequence' ? value.items : [{ node: countNode, value }];
    if (!items.length) return { invalid: `${what}: the list of rank counts is empty` };
    const counts: number[] = [];
    for (const item of items) {
      if (item.value.kind === 'unknown') return { dynamic: `rank count \`${item.value.source}\` is computed at run time` };
      if (item.value.kind === 'opaque' && item.value.assumed) return { dynamic: `rank count \`${item.value.assumed}\` is computed at run time` };
      if (item.value.kind !== 'int') return { invalid: `${what}: a rank count must be a positive integer, got ${describe(item)}` };
      if (item.value.value < 1n) return { invalid: `${what}: a rank count must be at least 1, got ${item.value.value}` };
      counts.push(Number(item.value.value));
    }
    const repeated = counts.filter((c, i) => counts.indexOf(c) !== i);
    if (repeated.length) this.report(node, 'warning', `rank count ${repeated[0]} is listed more than once; pytest runs it once per listing`);
    return make(counts);
  }

  private readMpi(node: SyntaxNode, call: SyntaxNode | undefined): Resolved<number | undefined> {
    const args = argumentsOf(call);
    const minSizeNode = args.keywords.get('min_size');
    if (args.positional.length) this.report(node, 'warning', 'pytest-mpi ignores positional arguments; write min_size=N to require N ranks');
    let minSize: Resolved<number | undefined> = { ok: undefined };
    if (minSizeNode) {
      const value = this.scope.evaluate(minSizeNode);
      if (value.kind === 'unknown' || (value.kind === 'opaque' && value.assumed)) minSize = { dynamic: `min_size \`${sourceOf(minSizeNode)}\` is computed at run time` };
      else if (value.kind !== 'int') minSize = { invalid: `${MPI}: min_size must be a positive integer, got ${describe({ node: minSizeNode, value })}` };
      else if (value.value < 1n) minSize = { invalid: `${MPI}: min_size must be at least 1, got ${value.value}` };
      else minSize = { ok: Number(value.value) };
    }
    if ('invalid' in minSize) this.report(node, 'error', minSize.invalid);
    const defaultRanks = this.options.config.config.mpiDefaultRanks;
    this.markers.push({
      range: rangeOf(node),
      summary: 'ok' in minSize
        ? minSize.ok === undefined ? `pytest-mpi: ${runsOn([defaultRanks])} (no min_size: the default rank count)` : `pytest-mpi: ${runsOn([minSize.ok])} (min_size=${minSize.ok})`
        : 'invalid' in minSize ? minSize.invalid : `pytest-mpi: ${minSize.dynamic}`,
    });
    return minSize;
  }

  private readParametrize(node: SyntaxNode, call: SyntaxNode | undefined): ParametrizeMark {
    const args = argumentsOf(call);
    const namesNode = args.positional[0] ?? args.keywords.get('argnames');
    const valuesNode = args.positional[1] ?? args.keywords.get('argvalues');
    const idsNode = args.positional[3] ?? args.keywords.get('ids');
    const indirectNode = args.positional[2] ?? args.keywords.get('indirect');
    const mark: ParametrizeMark = { kind: 'parametrize', node, axis: { dynamic: 'parametrize arguments are only known at run time' }, argnames: undefined, direct: [] };
    if (!namesNode || !valuesNode || args.unpacked) return mark;

    const namesValue = this.scope.evaluate(namesNode);
    let names: string[];
    if (namesValue.kind === 'str') names = namesValue.value.split(',').map(n => n.trim()).filter(Boolean);
    else if (namesValue.kind === 'sequence' && namesValue.items.every(i => i.value.kind === 'str')) names = namesValue.items.map(i => (i.value as { value: string }).value);
    else {
      mark.axis = { dynamic: `parameter names \`${sourceOf(namesNode)}\` are computed at run time` };
      return mark;
    }
    mark.argnames = names;
    const indirect = indirectNode ? this.scope.evaluate(indirectNode) : { kind: 'bool' as const, value: false };
    if (indirect.kind === 'bool') mark.direct = indirect.value ? [] : names;
    else if (indirect.kind === 'sequence') mark.direct = names.filter(n => !indirect.items.some(i => i.value.kind === 'str' && i.value.value === n));
    // pytest wraps each value in a 1-tuple only when a single name was given as a string.
    const singleName = namesValue.kind === 'str' && names.length === 1;
    mark.axis = this.parameterAxis(names, singleName, valuesNode, idsNode);
    return mark;
  }

  /**
   * Ids for one parametrization (a parametrize mark or a fixture's params), as pytest's IdMaker makes
   * them: pytest.param ids, then the ids list, then one part per value, made unique.
   */
  parameterAxis(names: string[], singleName: boolean, valuesNode: SyntaxNode, idsNode: SyntaxNode | undefined): Resolved<Axis> {
    let values = this.scope.evaluate(valuesNode);
    // A string is iterable too: one parameter set per character.
    if (values.kind === 'str') values = { kind: 'sequence', items: [...values.value].map(ch => ({ value: { kind: 'str', value: ch } as PyValue })) };
    if (values.kind === 'generator' && values.items) values = { kind: 'sequence', items: values.items };
    if (values.kind !== 'sequence') return { dynamic: `parameter values \`${sourceOf(valuesNode)}\` are computed at run time` };
    if (values.items.length > MAX_PARAMETER_SETS) return { dynamic: `more than ${MAX_PARAMETER_SETS} parameter sets` };
    const keepNonAscii = this.options.keepNonAsciiIds;
    let explicitIds: (string | null)[] = [];
    if (idsNode) {
      const idsValue = this.scope.evaluate(idsNode);
      if (idsValue.kind === 'sequence') {
        for (const [index, item] of idsValue.items.entries()) {
          if (item.value.kind === 'none') { explicitIds.push(null); continue; }
          const id = idOf(item.value, keepNonAscii);
          if (id === undefined) return { dynamic: `ids \`${sourceOf(idsNode)}\` are computed at run time` };
          if (id === null && item.value.kind === 'opaque' && item.value.assumed) return { dynamic: `ids \`${sourceOf(idsNode)}\` are computed at run time` };
          if (id === null) return { invalid: `ids contains a value pytest cannot use as an id (${item.node ? sourceOf(item.node) : item.value.kind}) at index ${index}` };
          explicitIds.push(id);
        }
        if (explicitIds.length && explicitIds.length !== Math.max(values.items.length, 1)) {
          return { invalid: `${values.items.length} parameter sets specified, with different number of ids: ${explicitIds.length}` };
        }
      } else if (idsValue.kind !== 'none') {
        return { dynamic: `ids come from \`${sourceOf(idsNode)}\` at run time` };
      }
    }
    if (!values.items.length) return { ok: { ids: [names.map(n => `${n}0`).join('-')], ranks: undefined } };
    explicitIds = explicitIds.slice(0, values.items.length);

    const ids: string[] = [];
    for (const [index, item] of values.items.entries()) {
      const parameterSet = this.parameterSet(item, singleName);
      if (!('ok' in parameterSet)) return parameterSet;
      if (parameterSet.ok.values.length !== names.length) {
        return { invalid: `in "parametrize" the number of names (${names.length}) must be equal to the number of values (${parameterSet.ok.values.length})` };
      }
      const given = parameterSet.ok.id ?? explicitIds[index];
      if (given !== undefined && given !== null) {
        ids.push(given);
        continue;
      }
      const parts: string[] = [];
      for (const [position, value] of parameterSet.ok.values.entries()) {
        const id = idOf(value, keepNonAscii);
        if (id === undefined) return { dynamic: `parameter \`${(value as { source: string }).source}\` is computed at run time` };
        parts.push(id ?? `${names[position] ?? ''}${index}`);
      }
      ids.push(parts.join('-'));
    }
    return uniqueAxis(ids, undefined);
  }

  /** One entry of parametrize's argvalues: its values and, for `pytest.param(..., id=...)`, its id. */
  private parameterSet(item: SequenceItem, singleName: boolean): Resolved<{ values: PyValue[]; id?: string }> {
    const node = item.node && unparenthesize(item.node);
    const callee = node?.type === 'call' ? node.childForFieldName('function') : null;
    if (node && callee && this.scope.qualify(callee) === 'pytest.param') {
      const args = argumentsOf(node);
      if (args.unpacked) return { dynamic: `parameter set \`${sourceOf(node)}\` is unpacked at run time` };
      const idNode = args.keywords.get('id');
      const idValue = idNode ? this.scope.evaluate(idNode) : undefined;
      if (idValue && idValue.kind !== 'str' && idValue.kind !== 'none') return { dynamic: `id \`${sourceOf(idNode!)}\` is computed at run time` };
      const values = args.positional.map(a => this.scope.evaluate(a));
      return { ok: idValue?.kind === 'str' ? { values, id: asciiEscapedStr(idValue.value) } : { values } };
    }
    if (singleName) return { ok: { values: [item.value] } };
    if (item.value.kind === 'sequence') return { ok: { values: item.value.items.map(i => i.value) } };
    if (item.value.kind === 'str' || item.value.kind === 'bytes') return { ok: { values: [...item.value.value].map(c => ({ kind: item.value.kind, value: c }) as PyValue) } };
    if (item.value.kind === 'unknown') return { dynamic: `parameter set \`${item.value.source}\` is computed at run time` };
    if (item.value.kind === 'opaque' || item.value.kind === 'named') return { dynamic: `parameter set \`${item.node ? sourceOf(item.node) : '?'}\` is unpacked at run time` };
    return { invalid: `parameter set \`${item.node ? sourceOf(item.node) : '?'}\` is not a sequence of values` };
  }

  // ---- fixtures ----

  /** The fixture a definition declares (`@pytest.fixture(...)`), or undefined. `isMethod`: defined in a class. */
  fixtureOf(def: Definition, isMethod: boolean): FixtureDecl | undefined {
    const cache = (this.fixtureCache ??= new Map());
    if (cache.has(def)) return cache.get(def);
    const fixture = this.inScopeOf(def, () => this.readFixture(def, isMethod));
    cache.set(def, fixture);
    return fixture;
  }

  private readFixture(def: Definition, isMethod: boolean): FixtureDecl | undefined {
    let fixture: FixtureDecl | undefined;
    for (const decorator of def.decorators) {
      const mark = this.markOf(decorator);
      if (mark?.kind !== 'fixture') continue;
      // The decorator, or the call a name holds (`module_fixture = pytest.fixture(scope="module")`); markOf
      // has checked that it is pytest's fixture decorator.
      const call = mark.node.type === 'call' ? mark.node : undefined;
      const args = argumentsOf(call);
      const nameValue = args.keywords.get('name') && this.scope.evaluate(args.keywords.get('name')!);
      const scopeValue = args.keywords.get('scope') && this.scope.evaluate(args.keywords.get('scope')!);
      const autouseValue = args.keywords.get('autouse') && this.scope.evaluate(args.keywords.get('autouse')!);
      const staticMethod = def.decorators.some(d => this.scope.qualify(unparenthesize(d)) === 'staticmethod');
      const fixtureName = nameValue?.kind === 'str' ? nameValue.value : def.name;
      fixture = {
        name: fixtureName,
        argnames: argnamesOf(def.node, isMethod && !staticMethod),
        scope: scopeValue?.kind === 'str' ? (SCOPES[scopeValue.value] ?? 0) : 0,
        autouse: autouseValue?.kind === 'bool' && autouseValue.value,
        owner: this,
      };
      const paramsNode = args.keywords.get('params');
      if (paramsNode) fixture.params = this.parameterAxis([fixtureName], true, paramsNode, args.keywords.get('ids'));
      break;
    }
    return fixture;
  }

  /** The module's fixtures as pytest registers them: `dir(module)` order (sorted names), imported ones included. */
  moduleFixtures(): FixtureDecl[] {
    if (this.moduleFixtureList) return this.moduleFixtureList;
    const found: { attribute: string; fixture: FixtureDecl }[] = [];
    for (const [name, entry] of this.entries) {
      let fixture: FixtureDecl | undefined;
      if (entry.kind === 'definition' && entry.def.kind === 'function') {
        fixture = this.fixtureOf(entry.def, false);
      } else if (entry.kind === 'import') {
        const symbol = this.options.resolver?.resolveSymbol(this, entry.qualified, 1);
        if (symbol?.kind === 'function') {
          const imported = symbol.analysis.fixtureOf(symbol.def, false);
          // An imported fixture without `name=` is registered under the name it is imported as.
          if (imported) fixture = imported.name === symbol.def.name ? { ...imported, name } : imported;
        }
      }
      if (fixture) found.push({ attribute: name, fixture });
    }
    found.sort((a, b) => (a.attribute < b.attribute ? -1 : a.attribute > b.attribute ? 1 : 0));
    return (this.moduleFixtureList = found.map(f => f.fixture));
  }

  /** `pytest_plugins = [...]` (a conftest's plugin modules), when a literal. */
  pytestPlugins(): string[] {
    const entry = this.entries.get('pytest_plugins');
    if (entry?.kind !== 'value') return [];
    const value = this.scope.evaluate(entry.node);
    if (value.kind === 'str') return [value.value];
    if (value.kind === 'sequence') return value.items.flatMap(i => (i.value.kind === 'str' ? [i.value.value] : []));
    return [];
  }

  /**
   * The argnames this module's `pytest_generate_tests` parametrizes: the literal first arguments of its
   * `metafunc.parametrize(...)` calls, 'all' when one is not a literal, undefined without the hook.
   */
  generatedArgnames(): Set<string> | 'all' | undefined {
    if (this.generateTestsArgs === undefined) {
      const hook = this.functions.get('pytest_generate_tests');
      if (!hook) {
        this.generateTestsArgs = null;
      } else {
        const names = new Set<string>();
        let all = false;
        forEachDescendant(hook.node, node => {
          if (node.type !== 'call') return;
          const callee = node.childForFieldName('function');
          if (callee?.type !== 'attribute' || callee.childForFieldName('attribute')?.text !== 'parametrize') return;
          const first = argumentsOf(node).positional[0];
          const value = first ? this.scope.evaluate(first) : undefined;
          if (value?.kind === 'str') for (const n of value.value.split(',')) names.add(n.trim());
          else all = true;
        });
        this.generateTestsArgs = { names: all || !names.size ? 'all' : names };
      }
    }
    return this.generateTestsArgs?.names;
  }

  // ---- diagnostics ----

  report(node: SyntaxNode, severity: Severity, message: string, code?: MarkerDiagnostic['code']): void {
    const key = `${node.id}:${message}`;
    const reported = (this.reported ??= new Set());
    if (reported.has(key)) return;
    reported.add(key);
    this.diagnostics.push({ file: this.file, range: rangeOf(node), severity, message, ...(code ? { code } : {}) });
  }
}

function scanClass(definition: Definition, owners: Map<Definition, ClassInfo>, conditions: Map<Definition, readonly Branch[]>): ClassInfo {
  const superclasses = namedChildrenOf(definition.node.childForFieldName('superclasses'));
  const keywords = superclasses.filter(b => b.type === 'keyword_argument');
  const cls: ClassInfo = {
    ...definition,
    bases: keywords.length ? superclasses.filter(b => b.type !== 'keyword_argument') : superclasses,
    metaclass: keywords.find(b => b.childForFieldName('name')?.text === 'metaclass')?.childForFieldName('value') ?? undefined,
    members: new Map(),
    nestedClasses: new Map(),
    assignments: new Map(),
  };
  const addMember = (member: Definition, branches: readonly Branch[] = []) => {
    cls.members.set(member.name, member);
    owners.set(member, cls);
    if (branches.length) conditions.set(member, branches);
    if (member.kind === 'class') {
      const nested = scanClass(member, owners, conditions);
      owners.set(nested, cls);
      cls.nestedClasses.set(member.name, nested);
    }
    else cls.nestedClasses.delete(member.name);
    cls.assignments.delete(member.name);
  };
  forEachStatement(definition.node.childForFieldName('body'), (statement, _nested, branches) => {
    if (statement.type === 'expression_statement') {
      for (const expression of namedChildrenOf(statement)) {
        for (const [target, value] of assignmentsOf(expression)) {
          if (target.type !== 'identifier') continue;
          cls.assignments.set(target.text, value);
          cls.members.delete(target.text);
          cls.nestedClasses.delete(target.text);
        }
      }
      return;
    }
    const member = definitionOf(statement);
    if (member) addMember(member, branches);
  }, addMember);
  return cls;
}

/**
 * The member an enum access `Cls.NAME` ends up at: NAME itself, or the first member with the same value
 * (a later member with an equal value is an alias). Undefined when NAME is no member or values are unknown.
 */
function enumMemberName(cls: ClassInfo, attribute: string, scope: ModuleScope): string | undefined {
  const isMember = (name: string) => !name.startsWith('_') && cls.assignments.has(name);
  if (!isMember(attribute)) return undefined;
  const valueText = (name: string): string | undefined => {
    const node = unparenthesize(cls.assignments.get(name)!);
    // auto() gives every member its own value.
    if (node.type === 'call' && /(^|\.)auto$/.test(node.childForFieldName('function')?.text ?? '')) return `auto:${name}`;
    return valueKey(scope.evaluate(node));
  };
  const wanted = valueText(attribute);
  if (wanted === undefined) return undefined;
  for (const name of cls.assignments.keys()) {
    if (!isMember(name)) continue;
    if (name === attribute) return name;
    const text = valueText(name);
    if (text === undefined) return undefined;
    if (text === wanted) return name;
  }
  return attribute;
}

/** A key equal for values Python compares equal (1 == 1.0 == True), undefined when unknown. */
function valueKey(value: PyValue): string | undefined {
  switch (value.kind) {
    case 'int': return `number:${Number(value.value)}`;
    case 'float': return `number:${value.value}`;
    case 'bool': return `number:${value.value ? 1 : 0}`;
    case 'str':
    case 'bytes': return `${value.kind}:${value.value}`;
    case 'none': return 'none';
    default: return undefined;
  }
}

function c3Merge(sequences: MroEntry[][]): MroEntry[] | undefined {
  const key = (e: MroEntry) => ('external' in e ? `external:${e.external}` : e.cls);
  const lists = sequences.map(s => [...s]).filter(s => s.length);
  const result: MroEntry[] = [];
  while (lists.length) {
    let candidate: MroEntry | undefined;
    for (const list of lists) {
      const head = list[0];
      if (!lists.some(other => other.slice(1).some(e => key(e) === key(head)))) {
        candidate = head;
        break;
      }
    }
    if (!candidate) return undefined;
    result.push(candidate);
    for (const list of lists) if (key(list[0]) === key(candidate)) list.shift();
    for (let i = lists.length - 1; i >= 0; i--) if (!lists[i].length) lists.splice(i, 1);
  }
  return result;
}

/**
 * An axis with ids made unique as pytest's make_unique_parameterset_ids does, or dynamic when pytest 7
 * and pytest 8+ would number the repeats differently (8 puts `_` before the counter of an id that ends
 * with a digit and skips numbers another id already has).
 */
function uniqueAxis(ids: string[], ranks: number[] | undefined): Resolved<Axis> {
  if (!hasRepeats(ids)) return { ok: { ids, ranks } };
  const unique = uniqueIdsPytest7(ids);
  if (!sameIds(unique, uniqueIdsPytest8(ids))) {
    return { dynamic: `repeated ids ${[...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))].join(', ')}: pytest 7 and pytest 8+ number them differently` };
  }
  return { ok: { ids: unique, ranks } };
}

function hasRepeats(ids: string[]): boolean {
  if (ids.length > 16) return new Set(ids).size !== ids.length;
  for (let i = 1; i < ids.length; i++) for (let j = 0; j < i; j++) if (ids[i] === ids[j]) return true;
  return false;
}

/** pytest 7's make_unique_parameterset_ids: repeated ids get a per-id counter appended. */
export function uniqueIdsPytest7(ids: string[]): string[] {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const next = new Map<string, number>();
  // Always a fresh array filled by push, so every axis's ids share one array layout (V8 deoptimizes code
  // optimized for one layout when it meets another, e.g. the holey arrays Array#map returns).
  const unique: string[] = [];
  for (const id of ids) {
    if (counts.get(id)! < 2) {
      unique.push(id);
      continue;
    }
    const n = next.get(id) ?? 0;
    next.set(id, n + 1);
    unique.push(`${id}${n}`);
  }
  return unique;
}

/** pytest 8+: an `_` before the counter when the id ends with a digit, and no clash with another id. */
export function uniqueIdsPytest8(ids: string[]): string[] {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  if ([...counts.values()].every(c => c < 2)) return ids;
  const resolved = [...ids];
  const next = new Map<string, number>();
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index];
    if (counts.get(id)! < 2) continue;
    const suffix = /\d$/.test(id) ? '_' : '';
    let n = next.get(id) ?? 0;
    let candidate = `${id}${suffix}${n}`;
    while (resolved.includes(candidate)) candidate = `${id}${suffix}${++n}`;
    resolved[index] = candidate;
    next.set(id, n + 1);
  }
  return resolved;
}

function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export function runsOn(counts: number[]): string {
  const plural = (n: number) => `${n} rank${n === 1 ? '' : 's'}`;
  if (counts.length === 1) return `runs on ${plural(counts[0])}`;
  return `runs on ${counts.slice(0, -1).join(', ')} and ${plural(counts[counts.length - 1])}: one test per count`;
}

function describe(item: SequenceItem): string {
  return item.node ? sourceOf(item.node) : item.value.kind;
}
