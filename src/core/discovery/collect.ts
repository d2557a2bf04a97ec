// One parsed file → the tests pytest (or a launcher's unittest run) would collect from it, with the node
// ids pytest prints. Only module and class bodies are walked: test bodies never matter to discovery.
import type { SyntaxNode } from './syntax';
import type { FileDiscovery, Framework, LauncherTemplate, MarkerDiagnostic, Severity, SourceRange, TestSpec } from '../types';
import type { CompiledConfig } from './config';
import { asciiEscapedStr } from './literals';
import { ModuleScope, idOf, namedChildrenOf, sourceOf, unparenthesize, type PyValue, type SequenceItem } from './scope';

/** What a rank marker means for the run, for hovers. */
export interface MarkerInfo { range: SourceRange; summary: string }

export interface CollectedFile { discovery: FileDiscovery; markers: MarkerInfo[] }

type Resolved<T> = { ok: T } | { dynamic: string } | { invalid: string };

/**
 * One parametrization as pytest expands it: an id per parameter set, in order, and for pytest_parallel the
 * rank count of each. Always both fields: code V8 optimized for one object shape deoptimizes on another.
 */
interface Axis { ids: string[]; ranks: number[] | undefined }

interface ParallelMark { kind: 'parallel'; node: SyntaxNode; axis: Resolved<Axis> }
interface MpiMark { kind: 'mpi'; node: SyntaxNode; minSize: Resolved<number | undefined> }
/** `@pytest.mark.timeout(S)`: seconds when a positive literal, else ignored (the setting applies). */
interface TimeoutMark { kind: 'timeout'; node: SyntaxNode; seconds?: number }

type Mark =
  | ParallelMark
  | MpiMark
  | { kind: 'parametrize'; node: SyntaxNode; axis: Resolved<Axis> }
  | TimeoutMark
  /** Not a mark: `@pytest.fixture` makes a `test_*` function a fixture instead of a test. */
  | { kind: 'fixture'; node: SyntaxNode };

interface Definition { kind: 'function' | 'class'; name: string; node: SyntaxNode; nameNode: SyntaxNode; decorators: SyntaxNode[] }

interface ClassInfo extends Definition {
  bases: SyntaxNode[];
  /** Own body members (functions and classes), last definition of a name wins as in Python. */
  members: Map<string, Definition>;
  nestedClasses: Map<string, ClassInfo>;
  pytestmark?: SyntaxNode;
  /** `__test__ = False` in the body. */
  disabled: boolean;
}

interface CallArguments { positional: SyntaxNode[]; keywords: Map<string, SyntaxNode>; unpacked: boolean }

const PARALLEL = 'pytest_parallel.mark.parallel';
const MPI = 'pytest.mark.mpi';
const TEST_CASE_BASES = new Set(['unittest.TestCase', 'unittest.IsolatedAsyncioTestCase', 'unittest.case.TestCase']);
/** Statements whose bodies still bind module/class names (`if`, `try`, ...), and error-recovery nodes. */
const TRANSPARENT_STATEMENTS = new Set(['if_statement', 'elif_clause', 'else_clause', 'try_statement', 'except_clause',
  'except_group_clause', 'finally_clause', 'with_statement', 'for_statement', 'while_statement', 'block', 'ERROR']);
const MAX_PARAMETER_COMBINATIONS = 10_000;
const MAX_BASE_DEPTH = 16;

export function collectTests(root: SyntaxNode, file: string, config: CompiledConfig): CollectedFile {
  return new FileCollector(file, config).collect(root);
}

class FileCollector {
  private readonly scope = new ModuleScope();
  private readonly tests: TestSpec[] = [];
  private readonly diagnostics: MarkerDiagnostic[] = [];
  private readonly markers: MarkerInfo[] = [];
  private readonly marks = new Map<number, Mark | undefined>();
  private readonly reported = new Set<string>();
  private readonly moduleMembers = new Map<string, Definition>();
  private readonly moduleClasses = new Map<string, ClassInfo>();
  private modulePytestmark?: SyntaxNode;
  private readonly launcher?: LauncherTemplate;

  constructor(private readonly file: string, private readonly config: CompiledConfig) {
    this.launcher = config.launcherFor(file);
  }

  collect(root: SyntaxNode): CollectedFile {
    this.reportSyntaxError(root);
    this.scanModule(root);
    const moduleMarks = this.marksOf(this.modulePytestmark);
    for (const member of this.moduleMembers.values()) {
      const cls = this.moduleClasses.get(member.name);
      if (cls?.node === member.node) {
        if (this.isCollectedClass(cls)) this.collectClass(cls, '', moduleMarks);
      } else if (!this.launcher && member.name.startsWith('test')) {
        this.collectFunction(member, '', moduleMarks);
      }
    }
    return { discovery: { file: this.file, tests: this.tests, diagnostics: this.diagnostics }, markers: this.markers };
  }

  // ---- scanning: bindings, definitions, pytestmark ----

  private scanModule(root: SyntaxNode): void {
    forEachStatement(root, statement => {
      switch (statement.type) {
        case 'import_statement':
        case 'import_from_statement':
          this.scope.bindImport(statement);
          return;
        case 'expression_statement':
          for (const expression of namedChildrenOf(statement)) {
            if (expression.type === 'augmented_assignment') {
              const target = expression.childForFieldName('left');
              if (target?.type === 'identifier') this.scope.markRebound(target.text);
            }
            for (const [target, value] of assignmentsOf(expression)) {
              if (target.type === 'identifier' && target.text === 'pytestmark') this.modulePytestmark = value;
              this.scope.bindAssignment(target, value);
            }
          }
          return;
        default: {
          const definition = definitionOf(statement);
          if (definition) this.addModuleDefinition(definition);
        }
      }
    }, recovered => this.addModuleDefinition(recovered));
  }

  private addModuleDefinition(definition: Definition): void {
    this.scope.bindDefinition(definition.name);
    replaceMember(this.moduleMembers, definition);
    if (definition.kind === 'class') this.moduleClasses.set(definition.name, this.scanClass(definition));
    else this.moduleClasses.delete(definition.name);
  }

  private scanClass(definition: Definition): ClassInfo {
    const cls: ClassInfo = {
      ...definition,
      bases: namedChildrenOf(definition.node.childForFieldName('superclasses')).filter(b => b.type !== 'keyword_argument'),
      members: new Map(),
      nestedClasses: new Map(),
      disabled: false,
    };
    const addMember = (member: Definition) => {
      replaceMember(cls.members, member);
      if (member.kind === 'class') cls.nestedClasses.set(member.name, this.scanClass(member));
      else cls.nestedClasses.delete(member.name);
    };
    forEachStatement(definition.node.childForFieldName('body'), statement => {
      if (statement.type === 'expression_statement') {
        for (const expression of namedChildrenOf(statement)) {
          for (const [target, value] of assignmentsOf(expression)) {
            if (target.type !== 'identifier') continue;
            if (target.text === 'pytestmark') cls.pytestmark = value;
            if (target.text === '__test__') cls.disabled = value.type === 'false';
          }
        }
        return;
      }
      const member = definitionOf(statement);
      if (member) addMember(member);
    }, addMember);
    return cls;
  }

  // ---- classes ----

  private isTestCase(cls: ClassInfo, depth = 0): boolean {
    return depth < MAX_BASE_DEPTH && cls.bases.some(base => {
      const name = this.scope.qualify(base);
      if (name && TEST_CASE_BASES.has(name)) return true;
      const local = base.type === 'identifier' ? this.moduleClasses.get(base.text) : undefined;
      return local !== undefined && local !== cls && this.isTestCase(local, depth + 1);
    });
  }

  /** Own members first, then inherited ones from classes defined in this file (what `dir()` shows). */
  private membersOf(cls: ClassInfo, depth = 0): Map<string, Definition> {
    const members = new Map(cls.members);
    if (depth >= MAX_BASE_DEPTH) return members;
    for (const base of cls.bases) {
      const local = base.type === 'identifier' ? this.moduleClasses.get(base.text) : undefined;
      if (!local || local === cls) continue;
      for (const [name, member] of this.membersOf(local, depth + 1)) if (!members.has(name)) members.set(name, member);
    }
    return members;
  }

  private isCollectedClass(cls: ClassInfo): boolean {
    if (cls.disabled) return false;
    if (this.isTestCase(cls)) return true;
    // A launcher runs `unittest.main()`: only TestCase classes are tests there.
    return !this.launcher && cls.name.startsWith('Test') && !this.membersOf(cls).has('__init__');
  }

  /** A class's marks as pytest reads them: body `pytestmark` (inherited when absent), then decorators bottom-up. */
  private classMarks(cls: ClassInfo, depth = 0): Mark[] {
    let bodyMarks = cls.pytestmark ? this.marksOf(cls.pytestmark) : undefined;
    for (const base of cls.bases) {
      if (bodyMarks || depth >= MAX_BASE_DEPTH) break;
      const local = base.type === 'identifier' ? this.moduleClasses.get(base.text) : undefined;
      if (local && local !== cls) {
        const inherited = this.classMarks(local, depth + 1);
        if (inherited.length) bodyMarks = inherited;
      }
    }
    return [...(bodyMarks ?? []), ...this.decoratorMarks(cls)];
  }

  /** `outerName`: the enclosing classes' `A::B` ('' at module level). */
  private collectClass(cls: ClassInfo, outerName: string, outerMarks: Mark[]): void {
    const className = outerName ? `${outerName}::${cls.name}` : cls.name;
    const marks = [...this.classMarks(cls), ...outerMarks];
    const members = this.membersOf(cls);
    const testCase = this.isTestCase(cls);
    const methods = [...members.values()].filter(m => m.kind === 'function' && m.name.startsWith('test'));
    // unittest's loader (which pytest uses for TestCase classes) runs methods in name order.
    if (testCase) methods.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const method of methods) {
      if (this.launcher) this.collectLauncherTest(method, className, this.launcher);
      else this.collectFunction(method, className, marks);
    }
    if (testCase) return;
    for (const member of members.values()) {
      const nested = this.nestedClassOf(cls, member);
      if (nested && this.isCollectedClass(nested)) this.collectClass(nested, className, marks);
    }
  }

  private nestedClassOf(cls: ClassInfo, member: Definition, depth = 0): ClassInfo | undefined {
    const own = cls.nestedClasses.get(member.name);
    if (own?.node === member.node) return own;
    if (depth >= MAX_BASE_DEPTH) return undefined;
    for (const base of cls.bases) {
      const local = base.type === 'identifier' ? this.moduleClasses.get(base.text) : undefined;
      const found = local && local !== cls ? this.nestedClassOf(local, member, depth + 1) : undefined;
      if (found) return found;
    }
    return undefined;
  }

  // ---- tests ----

  // Test specs are built by assignment, not by spreading conditional objects: V8 runs such spreads through
  // a generic slow path, and discovery builds tens of thousands of specs before its code is optimized.

  private collectLauncherTest(method: Definition, className: string, launcher: LauncherTemplate): void {
    const test = this.identity(method, className, 'unittest');
    test.ranks = launcher.ranks && launcher.ranks > 0 ? launcher.ranks : null;
    if (test.ranks === null) test.dynamic = 'the launcher decides the rank count';
    test.launcher = launcher;
    this.tests.push(test);
  }

  private collectFunction(fn: Definition, className: string, enclosingMarks: Mark[]): void {
    const ownMarks = this.decoratorMarks(fn);
    for (const mark of ownMarks) if (mark.kind === 'fixture') return;
    const parallels: ParallelMark[] = [];
    const axes: Resolved<Axis>[] = [];
    let mpi: MpiMark | undefined;
    // The nearest timeout mark wins, as pytest-timeout's get_closest_marker does.
    let timeout: TimeoutMark | undefined;
    // One pass, not an array method per kind of mark: discovery mostly runs before V8 optimizes it.
    for (const mark of enclosingMarks.length ? ownMarks.concat(enclosingMarks) : ownMarks) {
      if (mark.kind === 'parallel') {
        parallels.push(mark);
        axes.push(mark.axis);
      } else if (mark.kind === 'parametrize') {
        axes.push(mark.axis);
      } else if (mark.kind === 'mpi') {
        mpi ??= mark;
      } else if (mark.kind === 'timeout') {
        timeout ??= mark;
      }
    }
    const base = this.identity(fn, className, parallels.length ? 'pytest_parallel' : mpi ? 'pytest-mpi' : 'pytest');
    if (timeout?.seconds) base.timeoutSeconds = timeout.seconds;

    for (let i = 1; i < parallels.length; i++) {
      this.report(parallels[i].node, 'error', 'pytest_parallel.mark.parallel is applied more than once to this test; pytest rejects the duplicate `comm` parameter');
    }
    const rankMark = parallels.length ? parallels[0].axis : mpi?.minSize;
    const invalid = parallels.length > 1 ? 'more than one pytest_parallel.mark.parallel applies' : rankMark && 'invalid' in rankMark ? rankMark.invalid : undefined;
    if (invalid) {
      base.invalid = invalid;
      this.tests.push(base);
      return;
    }

    let fixedRanks: Resolved<number> = { ok: 1 };
    if (mpi) {
      fixedRanks = 'ok' in mpi.minSize ? { ok: mpi.minSize.ok ?? this.config.config.mpiDefaultRanks } : mpi.minSize as Resolved<number>;
    }
    const dynamicReasons: string[] = [];
    const known: Axis[] = [];
    for (const axis of axes) {
      if ('dynamic' in axis) dynamicReasons.push(axis.dynamic);
      else known.push((axis as { ok: Axis }).ok);
    }
    const combinations = dynamicReasons.length ? undefined : expand(known);
    if (!combinations) {
      // pytest still accepts the function's own id and runs every parametrization of it.
      const knownCounts = parallels.length && 'ok' in parallels[0].axis ? parallels[0].axis.ok.ranks : undefined;
      base.ranks = parallels.length ? (knownCounts?.length === 1 ? knownCounts[0] : null) : 'ok' in fixedRanks ? fixedRanks.ok : null;
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
  private identity(fn: Definition, className: string, framework: Framework): TestSpec {
    const test: TestSpec = {
      id: `${this.file}::${className ? `${className}::` : ''}${fn.name}`,
      label: fn.name,
      file: this.file,
      range: rangeOf(fn.nameNode),
      framework,
      ranks: null,
    };
    if (className) test.className = className;
    return test;
  }

  // ---- marks ----

  private decoratorMarks(definition: Definition): Mark[] {
    const marks: Mark[] = [];
    // The decorator nearest the def is applied first, and pytest lists marks in application order.
    for (let i = definition.decorators.length - 1; i >= 0; i--) {
      const mark = this.markOf(definition.decorators[i]);
      if (mark) marks.push(mark);
    }
    return marks;
  }

  /** The marks of a `pytestmark = ...` value: one mark or a list of them. */
  private marksOf(value: SyntaxNode | undefined): Mark[] {
    if (!value) return [];
    const node = unparenthesize(value);
    const elements = node.type === 'list' || node.type === 'tuple' ? namedChildrenOf(node) : [node];
    return elements.map(e => this.markOf(e)).filter((m): m is Mark => m !== undefined);
  }

  private markOf(expression: SyntaxNode): Mark | undefined {
    if (this.marks.has(expression.id)) return this.marks.get(expression.id);
    const node = unparenthesize(expression);
    const call = node.type === 'call' ? node : undefined;
    const callee = call ? call.childForFieldName('function') : node;
    const name = callee ? this.scope.qualify(callee) : undefined;
    let mark: Mark | undefined;
    if (name === PARALLEL) mark = { kind: 'parallel', node, axis: this.readParallel(node, call) };
    else if (name === MPI) mark = { kind: 'mpi', node, minSize: this.readMpi(node, call) };
    else if (name === 'pytest.mark.parametrize') mark = { kind: 'parametrize', node, axis: this.readParametrize(call) };
    else if (name === 'pytest.fixture') mark = { kind: 'fixture', node };
    else if (name === 'pytest.mark.timeout') mark = { kind: 'timeout', node, ...this.readTimeout(call) };
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

  private readParallel(node: SyntaxNode, call: SyntaxNode | undefined): Resolved<Axis> {
    const args = argumentsOf(call);
    const count = args.positional[0] ?? args.keywords.get('n_proc_list') ?? args.keywords.get('n_procs');
    let axis: Resolved<Axis>;
    if (!call || !count) axis = { invalid: `${PARALLEL} needs a rank count, e.g. parallel(2) or parallel([2, 4])` };
    else if (args.positional.length + args.keywords.size > 1 || args.unpacked) axis = { invalid: `${PARALLEL} takes one argument: a rank count or a list of counts` };
    else axis = this.rankCounts(node, count);
    if ('invalid' in axis) this.report(node, 'error', axis.invalid);
    this.markers.push({
      range: rangeOf(node),
      summary: 'ok' in axis ? `pytest_parallel: ${runsOn(axis.ok.ranks!)}` : 'invalid' in axis ? axis.invalid : `pytest_parallel: ${axis.dynamic}`,
    });
    return axis;
  }

  private rankCounts(node: SyntaxNode, countNode: SyntaxNode): Resolved<Axis> {
    const value = this.scope.evaluate(countNode);
    if (value.kind === 'unknown') return { dynamic: `rank count \`${value.source}\` is computed at run time` };
    const items: SequenceItem[] = value.kind === 'sequence' ? value.items : [{ node: countNode, value }];
    if (!items.length) return { invalid: `${PARALLEL}: the list of rank counts is empty` };
    const counts: number[] = [];
    for (const item of items) {
      if (item.value.kind === 'unknown') return { dynamic: `rank count \`${item.value.source}\` is computed at run time` };
      if (item.value.kind !== 'int') return { invalid: `${PARALLEL}: a rank count must be a positive integer, got ${describe(item)}` };
      if (item.value.value < 1n) return { invalid: `${PARALLEL}: a rank count must be at least 1, got ${item.value.value}` };
      counts.push(Number(item.value.value));
    }
    const repeated = counts.filter((c, i) => counts.indexOf(c) !== i);
    if (repeated.length) this.report(node, 'warning', `rank count ${repeated[0]} is listed more than once; pytest runs it once per listing`);
    return { ok: { ids: uniqueIds(counts.map(String)), ranks: counts } };
  }

  private readMpi(node: SyntaxNode, call: SyntaxNode | undefined): Resolved<number | undefined> {
    const args = argumentsOf(call);
    const minSizeNode = args.keywords.get('min_size');
    if (args.positional.length) this.report(node, 'warning', 'pytest-mpi ignores positional arguments; write min_size=N to require N ranks');
    let minSize: Resolved<number | undefined> = { ok: undefined };
    if (minSizeNode) {
      const value = this.scope.evaluate(minSizeNode);
      if (value.kind === 'unknown') minSize = { dynamic: `min_size \`${value.source}\` is computed at run time` };
      else if (value.kind !== 'int') minSize = { invalid: `${MPI}: min_size must be a positive integer, got ${describe({ node: minSizeNode, value })}` };
      else if (value.value < 1n) minSize = { invalid: `${MPI}: min_size must be at least 1, got ${value.value}` };
      else minSize = { ok: Number(value.value) };
    }
    if ('invalid' in minSize) this.report(node, 'error', minSize.invalid);
    const defaultRanks = this.config.config.mpiDefaultRanks;
    this.markers.push({
      range: rangeOf(node),
      summary: 'ok' in minSize
        ? minSize.ok === undefined ? `pytest-mpi: ${runsOn([defaultRanks])} (no min_size: the default rank count)` : `pytest-mpi: ${runsOn([minSize.ok])} (min_size=${minSize.ok})`
        : 'invalid' in minSize ? minSize.invalid : `pytest-mpi: ${minSize.dynamic}`,
    });
    return minSize;
  }

  private readParametrize(call: SyntaxNode | undefined): Resolved<Axis> {
    const args = argumentsOf(call);
    const namesNode = args.positional[0] ?? args.keywords.get('argnames');
    const valuesNode = args.positional[1] ?? args.keywords.get('argvalues');
    const idsNode = args.positional[3] ?? args.keywords.get('ids');
    if (!namesNode || !valuesNode || args.unpacked) return { dynamic: 'parametrize arguments are only known at run time' };

    const namesValue = this.scope.evaluate(namesNode);
    let names: string[];
    if (namesValue.kind === 'str') names = namesValue.value.split(',').map(n => n.trim()).filter(Boolean);
    else if (namesValue.kind === 'sequence' && namesValue.items.every(i => i.value.kind === 'str')) names = namesValue.items.map(i => (i.value as { value: string }).value);
    else return { dynamic: `parameter names \`${sourceOf(namesNode)}\` are computed at run time` };
    // pytest wraps each value in a 1-tuple only when a single name was given as a string.
    const singleName = namesValue.kind === 'str' && names.length === 1;

    const values = this.scope.evaluate(valuesNode);
    if (values.kind !== 'sequence') return { dynamic: `parameter values \`${sourceOf(valuesNode)}\` are computed at run time` };
    let explicitIds: (string | null)[] = [];
    if (idsNode) {
      const idsValue = this.scope.evaluate(idsNode);
      if (idsValue.kind === 'sequence') {
        const resolved = idsValue.items.map(i => (i.value.kind === 'none' ? null : idOf(i.value)));
        if (resolved.some(id => id === undefined) || idsValue.items.some(i => i.value.kind === 'sequence' || i.value.kind === 'opaque')) {
          return { dynamic: `ids \`${sourceOf(idsNode)}\` are computed at run time` };
        }
        explicitIds = resolved as (string | null)[];
      } else if (idsValue.kind !== 'none') {
        return { dynamic: `ids come from \`${sourceOf(idsNode)}\` at run time` };
      }
    }
    if (!values.items.length) return { ok: { ids: [names.map(n => `${n}0`).join('-')], ranks: undefined } };

    const ids: string[] = [];
    for (const [index, item] of values.items.entries()) {
      const parameterSet = this.parameterSet(item, singleName);
      if ('dynamic' in parameterSet) return parameterSet;
      const given = parameterSet.ok.id ?? explicitIds[index];
      if (given !== undefined && given !== null) {
        ids.push(given);
        continue;
      }
      const parts: string[] = [];
      for (const [position, value] of parameterSet.ok.values.entries()) {
        const id = idOf(value);
        if (id === undefined) return { dynamic: `parameter \`${(value as { source: string }).source}\` is computed at run time` };
        parts.push(id ?? `${names[position] ?? ''}${index}`);
      }
      ids.push(parts.join('-'));
    }
    return { ok: { ids: uniqueIds(ids), ranks: undefined } };
  }

  /** One entry of parametrize's argvalues: its values and, for `pytest.param(..., id=...)`, its id. */
  private parameterSet(item: SequenceItem, singleName: boolean): { ok: { values: PyValue[]; id?: string } } | { dynamic: string } {
    const node = item.node && unparenthesize(item.node);
    const callee = node?.type === 'call' ? node.childForFieldName('function') : null;
    if (node && callee && this.scope.qualify(callee) === 'pytest.param') {
      const args = argumentsOf(node);
      if (args.unpacked) return { dynamic: `parameter set \`${sourceOf(node)}\` is unpacked at run time` };
      const idNode = args.keywords.get('id');
      const idValue = idNode ? this.scope.evaluate(idNode) : undefined;
      if (idValue && idValue.kind !== 'str' && idValue.kind !== 'none') return { dynamic: `id \`${sourceOf(idNode!)}\` is computed at run time` };
      return { ok: { values: args.positional.map(a => this.scope.evaluate(a)), ...(idValue?.kind === 'str' ? { id: asciiEscapedStr(idValue.value) } : {}) } };
    }
    if (singleName) return { ok: { values: [item.value] } };
    if (item.value.kind === 'sequence') return { ok: { values: item.value.items.map(i => i.value) } };
    return { dynamic: `parameter set \`${item.node ? sourceOf(item.node) : '?'}\` is unpacked at run time` };
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

  private report(node: SyntaxNode, severity: Severity, message: string): void {
    const key = `${node.id}:${message}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.diagnostics.push({ file: this.file, range: rangeOf(node), severity, message });
  }
}

// ---- syntax helpers ----

/**
 * Visits the statements of a module or class body, looking through `if`/`try`/... and error nodes. Inside
 * an error node (an unclosed bracket while typing swallows everything after it) the pieces of a
 * `@decorator def name(` are still there as loose tokens; they come back as recovered definitions.
 */
function forEachStatement(container: SyntaxNode | null, visit: (statement: SyntaxNode) => void, visitRecovered: (definition: Definition) => void): void {
  if (!container) return;
  if (container.type === 'ERROR') {
    forEachInError(container, visit, visitRecovered);
    return;
  }
  for (const node of namedChildrenOf(container)) {
    if (TRANSPARENT_STATEMENTS.has(node.type)) forEachStatement(node, visit, visitRecovered);
    else visit(node);
  }
}

function forEachInError(error: SyntaxNode, visit: (statement: SyntaxNode) => void, visitRecovered: (definition: Definition) => void): void {
  let decorators: SyntaxNode[] = [];
  const children = error.children;
  for (let i = 0; i < children.length; i++) {
    const child = children[i];
    if (child.type === 'comment' || child.type === 'async') continue;
    if (child.type === 'decorator') {
      const expression = namedChildrenOf(child)[0];
      if (expression) decorators.push(expression);
      continue;
    }
    const name = child.type === 'def' || child.type === 'class' ? children[i + 1] : undefined;
    if (name?.type === 'identifier') {
      visitRecovered({ kind: child.type === 'def' ? 'function' : 'class', name: name.text, node: name, nameNode: name, decorators });
      i++;
    } else if (child.isNamed) {
      if (TRANSPARENT_STATEMENTS.has(child.type)) forEachStatement(child, visit, visitRecovered);
      else visit(child);
    }
    decorators = [];
  }
}

function definitionOf(statement: SyntaxNode): Definition | undefined {
  let node = statement;
  const decorators: SyntaxNode[] = [];
  if (statement.type === 'decorated_definition') {
    for (const child of namedChildrenOf(statement)) {
      if (child.type === 'decorator') {
        const expression = namedChildrenOf(child)[0];
        if (expression) decorators.push(expression);
      }
    }
    const definition = statement.childForFieldName('definition');
    if (!definition) return undefined;
    node = definition;
  }
  if (node.type !== 'function_definition' && node.type !== 'class_definition') return undefined;
  const nameNode = node.childForFieldName('name');
  const kind = node.type === 'function_definition' ? 'function' : 'class';
  return nameNode ? { kind, name: nameNode.text, node, nameNode, decorators } : undefined;
}

/** `a = b = value` → [a, value], [b, value]; annotated assignments without a value bind nothing. */
function assignmentsOf(expression: SyntaxNode): [SyntaxNode, SyntaxNode][] {
  const pairs: [SyntaxNode, SyntaxNode][] = [];
  const targets: SyntaxNode[] = [];
  let current: SyntaxNode | null = expression;
  while (current?.type === 'assignment') {
    const left = current.childForFieldName('left');
    if (left) targets.push(left);
    current = current.childForFieldName('right');
  }
  if (current) for (const target of targets) pairs.push([target, current]);
  return pairs;
}

function replaceMember(members: Map<string, Definition>, definition: Definition): void {
  // Re-inserting keeps the surviving definition at its own position in source order.
  members.delete(definition.name);
  members.set(definition.name, definition);
}

function argumentsOf(call: SyntaxNode | undefined): CallArguments {
  const args: CallArguments = { positional: [], keywords: new Map(), unpacked: false };
  for (const arg of namedChildrenOf(call?.childForFieldName('arguments') ?? null)) {
    if (arg.type === 'keyword_argument') {
      const name = arg.childForFieldName('name');
      const value = arg.childForFieldName('value');
      if (name && value) args.keywords.set(name.text, value);
    } else if (arg.type === 'list_splat' || arg.type === 'dictionary_splat') {
      args.unpacked = true;
    } else {
      args.positional.push(arg);
    }
  }
  return args;
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

/** pytest 7's make_unique_parameterset_ids: repeated ids get a per-id counter appended. */
function uniqueIds(ids: string[]): string[] {
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

function runsOn(counts: number[]): string {
  const plural = (n: number) => `${n} rank${n === 1 ? '' : 's'}`;
  if (counts.length === 1) return `runs on ${plural(counts[0])}`;
  return `runs on ${counts.slice(0, -1).join(', ')} and ${plural(counts[counts.length - 1])}: one test per count`;
}

function describe(item: SequenceItem): string {
  return item.node ? sourceOf(item.node) : item.value.kind;
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

export function rangeOf(node: SyntaxNode): SourceRange {
  const start = node.startPosition;
  const end = node.endPosition;
  return { line: start.row + 1, column: start.column, endLine: end.row + 1, endColumn: end.column };
}
