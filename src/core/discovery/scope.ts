import type { SyntaxNode } from './syntax';
import { asciiEscapedBytes, asciiEscapedStr, decodeStringLiteral, imaginaryRepr, parseIntLiteral, pyDedent, pyFloatRepr } from './literals';

/** What the parser knows statically about a Python expression's value. */
export type PyValue =
  | { kind: 'int'; value: bigint }
  | { kind: 'float'; value: number }
  /** A value whose id text is known but whose type matters no further (complex numbers, enum members, patterns). */
  | { kind: 'formatted'; text: string }
  | { kind: 'str' | 'bytes'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  /** Classes, functions and lambdas: pytest ids them by `__name__`. */
  | { kind: 'named'; name: string }
  | { kind: 'sequence'; items: SequenceItem[] }
  /**
   * A generator expression: pytest ids the object by its `__name__`, `<genexpr>`; as parametrize's
   * argvalues it gives its items, when they are known.
   */
  | { kind: 'generator'; items?: SequenceItem[] }
  /** A dict literal: its entries, for `.keys()`, `.values()`, `.items()`; pytest ids a dict by argname + index. */
  | { kind: 'dict'; entries: [PyValue, PyValue][] }
  /**
   * A value pytest ids as `argname + index` (sets, arrays, slices, instances). `assumed`: taken for an
   * object because a call makes it (the call as written); only its id relies on that.
   */
  | { kind: 'opaque'; assumed?: string }
  /** Only known at run time; `source` is the expression as written. */
  | { kind: 'unknown'; source: string };

export interface SequenceItem { node?: SyntaxNode; value: PyValue }

type Binding =
  | { kind: 'import'; qualified: string }
  | { kind: 'value'; node: SyntaxNode }
  | { kind: 'definition'; name: string; isClass: boolean }
  /** Bound more than once, or by a loop/with/augmented assignment: only the run knows its value. */
  | { kind: 'rebound' };

/**
 * What a module's scope cannot know alone: names it imports from the project's other modules, and
 * what its own classes are (enums, classes whose instances pytest names by value).
 */
export interface ScopeContext {
  /**
   * The value of an imported dotted name (`.consts.SIZES`, `pkg.mod.X`): null when the project defines
   * it but its value is only known at run time, undefined when it is not the project's.
   */
  importedValue(qualified: string, depth: number): PyValue | null | undefined;
  /** Whether the module calls this dotted name somewhere (`nx.path_graph(3)`): then it is a function. */
  isCalled(dotted: string): boolean;
  /** Whether the module changes what this module-level name holds in place (`NAME[k] = v`, `NAME.append(...)`), anywhere. */
  isMutated(name: string): boolean;
  /** `Cls.NAME` for a class defined in this module: an enum member's text, or undefined. */
  classAttribute(className: string, attribute: string, depth: number): PyValue | undefined;
  /** Calling a class defined in this module: opaque for plain classes, undefined when only the run knows. */
  instanceOf(className: string): PyValue | undefined;
  /**
   * Calling a name imported from the project (`qualified` as imported): a class, as instanceOf; null for a
   * value (what calling it returns only the run knows); undefined when not the project's or unknown.
   */
  importedInstance(qualified: string): PyValue | null | undefined;
}

/** Names pytest's `__name__` rule applies to when the module does not rebind them. */
const BUILTIN_NAMED = new Set(['int', 'float', 'str', 'bytes', 'bool', 'complex', 'list', 'dict', 'set', 'tuple',
  'frozenset', 'object', 'type', 'bytearray', 'range', 'len', 'print', 'sum', 'min', 'max', 'abs', 'repr', 'sorted',
  'Exception', 'ValueError', 'TypeError', 'KeyError', 'IndexError', 'RuntimeError', 'ZeroDivisionError', 'AssertionError',
  'NotImplementedError', 'AttributeError', 'OSError', 'ArithmeticError', 'OverflowError', 'Warning', 'UserWarning',
  'DeprecationWarning', 'RuntimeWarning', 'FutureWarning']);
/**
 * Calls whose results pytest ids as `argname + index`: containers, slices and objects without a
 * `__name__`, among them the array constructors of numerical code.
 */
const OPAQUE_CALLS = new Set(['object', 'dict', 'set', 'frozenset', 'bytearray', 'slice', 'memoryview',
  'functools.partial', 'collections.OrderedDict', 'collections.defaultdict', 'collections.Counter', 'collections.deque',
  'datetime.datetime', 'datetime.date', 'datetime.time', 'datetime.timedelta', 'decimal.Decimal', 'fractions.Fraction',
  'pathlib.Path', 'pathlib.PurePath', 'pathlib.PosixPath', 'types.SimpleNamespace', 'uuid.UUID',
  ...['array', 'asarray', 'ascontiguousarray', 'asfortranarray', 'arange', 'zeros', 'ones', 'empty', 'full', 'linspace',
    'logspace', 'geomspace', 'eye', 'identity', 'zeros_like', 'ones_like', 'empty_like', 'full_like', 'diag', 'meshgrid',
    'int8', 'int16', 'int32', 'int64', 'intc', 'int_', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32',
    'bool_', 'dtype', 'matrix', 'ndarray', 'random.default_rng', 'random.RandomState'].map(name => `numpy.${name}`)]);
/** Calls that return numbers or strings pytest prints by value: only the run knows which. */
const PRIMITIVE_CALLS = new Set(['str', 'int', 'bool', 'complex', 'round', 'len', 'abs', 'min', 'max', 'sum', 'ord', 'chr',
  'hex', 'oct', 'bin', 'repr', 'ascii', 'format', 'pow', 'hash', 'id', 'getattr', 'eval', 'next', 'float',
  'json.dumps', 'textwrap.dedent', 'textwrap.indent', 'textwrap.fill', 'textwrap.shorten']);
/** Modules whose functions mostly return numbers (numpy's, numpy scalars that print by value). */
const PRIMITIVE_MODULES = ['math.', 'cmath.', 'operator.', 'random.', 'statistics.', 'numpy.', 'scipy.', 'mpmath.', 'os.', 'sys.', 'time.', 'string.'];
/** Literals of the containers Python changes in place. */
const MUTABLE_LITERALS = new Set(['list', 'dictionary', 'set', 'list_comprehension', 'dictionary_comprehension', 'set_comprehension']);
/** Builtins that turn an iterable into a sequence discovery can expand. */
const SEQUENCE_CALLS = new Set(['list', 'tuple', 'sorted', 'reversed', 'enumerate']);
/** Subscripted helpers of numpy that build slices, index tuples or arrays. */
const OPAQUE_SUBSCRIPTS = new Set(['numpy.s_', 'numpy.index_exp', 'numpy.r_', 'numpy.c_', 'numpy.mgrid', 'numpy.ogrid']);
/** numpy's scalar types that subclass Python's float: pytest prints them by value. */
const FLOAT_CALLS = new Set(['float', 'numpy.float64', 'numpy.double', 'numpy.float_']);
/** Module constants with a fixed value. */
const KNOWN_CONSTANTS = new Map<string, PyValue>([
  ['math.pi', { kind: 'float', value: Math.PI }], ['numpy.pi', { kind: 'float', value: Math.PI }],
  ['math.e', { kind: 'float', value: Math.E }], ['numpy.e', { kind: 'float', value: Math.E }],
  ['math.tau', { kind: 'float', value: 2 * Math.PI }],
  ['math.inf', { kind: 'float', value: Infinity }], ['numpy.inf', { kind: 'float', value: Infinity }],
  ['math.nan', { kind: 'float', value: NaN }], ['numpy.nan', { kind: 'float', value: NaN }],
  ['numpy.newaxis', { kind: 'none' }],
]);
/**
 * numpy's type objects by attribute and their `__name__`, by which pytest names them (aliases name the
 * type they stand for: `np.double` is float64). Only these: numpy's other attributes (aliases that
 * changed between versions, scalars like `np.True_`) are only known at run time.
 */
const NUMPY_CLASSES = new Map([
  ...['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
    'complex64', 'complex128', 'ndarray', 'longlong', 'ulonglong', 'longdouble', 'clongdouble', 'datetime64', 'timedelta64',
    'generic', 'number', 'integer', 'floating', 'complexfloating', 'inexact', 'signedinteger', 'unsignedinteger'].map(n => [n, n] as const),
  ['half', 'float16'], ['single', 'float32'], ['double', 'float64'], ['csingle', 'complex64'], ['cdouble', 'complex128'],
  ['byte', 'int8'], ['ubyte', 'uint8'], ['short', 'int16'], ['ushort', 'uint16'], ['intc', 'int32'], ['uintc', 'uint32'],
]);
/** What `from X import *` binds for the modules discovery cares about. */
const WILDCARD_EXPORTS: Record<string, string[]> = {
  pytest: ['mark', 'param', 'fixture'],
  pytest_parallel: ['mark'],
  'pytest_parallel.mark': ['parallel'],
  unittest: ['TestCase', 'IsolatedAsyncioTestCase'],
};
const MAX_NAME_DEPTH = 8;
/** Shared by every scope until a comprehension binds a name (then each gets its own). */
const NO_LOCALS: Map<string, PyValue> = new Map();
const NO_NODES: readonly SyntaxNode[] = [];
const MAX_SEQUENCE = 10_000;
const DOTTED_NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*(\.[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*)*$/u;

export function namedChildrenOf(node: SyntaxNode | null): readonly SyntaxNode[] {
  if (!node) return NO_NODES;
  // One wasm call for all children (cached on the node), instead of one per namedChild(i). Comments and
  // line continuations are tree-sitter's extras, wherever they fall; pyparse.ts makes no nodes of them,
  // so its node's own array comes back, not a copy (read-only: it is the node's).
  const named = node.namedChildren;
  return named.some(isExtra) ? named.filter(child => !isExtra(child)) : named;
}

function isExtra(node: SyntaxNode): boolean {
  return node.type === 'comment' || node.type === 'line_continuation';
}

export function unparenthesize(node: SyntaxNode): SyntaxNode {
  let current = node;
  while (current.type === 'parenthesized_expression') {
    const inner = namedChildrenOf(current)[0];
    if (!inner) break;
    current = inner;
  }
  return current;
}

/**
 * The module's top-level names: imports (for resolving `pp.mark.parallel`) and literal constants.
 * Relative imports are spelled with their leading dots (`.base.Helper`), which no framework name has.
 */
export class ModuleScope {
  private readonly bindings = new Map<string, Binding>();
  /** Objects the module gives a `__name__` (by their value expression's node id): the expression of that name. */
  private readonly renamed = new Map<number, SyntaxNode>();
  /** Modules of the project this one star-imports (`from .base import *`), last import last. */
  readonly wildcardModules: string[] = [];
  context?: ScopeContext;
  /**
   * The class body a decorator or `pytestmark` is evaluated in: its names come before the module's
   * (Python evaluates them in the class's namespace).
   */
  classScope?: { assignments: Map<string, SyntaxNode>; members: Map<string, { name: string }> };
  /** Names a comprehension binds while its body is evaluated. */
  private locals: Map<string, PyValue> = NO_LOCALS;

  /** Binds what an import statement imports; returns the local names with the dotted names they stand for. */
  bindImport(statement: SyntaxNode): [string, string][] {
    const bound: [string, string][] = [];
    if (statement.type === 'import_statement') {
      const names = statement.childrenForFieldName('name');
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        if (name.type === 'aliased_import') {
          const alias = name.childForFieldName('alias');
          const dotted = name.childForFieldName('name');
          if (alias && dotted) bound.push([alias.text, dotted.text]);
        } else {
          const text = name.text;
          const dot = text.indexOf('.');
          const root = dot < 0 ? text : text.slice(0, dot);
          bound.push([root, root]);
        }
      }
    } else {
      const moduleNode = statement.childForFieldName('module_name');
      if (!moduleNode) return bound;
      const module = moduleNode.text.replace(/\s+/g, '');
      if (namedChildrenOf(statement).some(c => c.type === 'wildcard_import')) {
        const exported = WILDCARD_EXPORTS[module];
        if (exported) for (const name of exported) bound.push([name, joinModule(module, name)]);
        else this.wildcardModules.push(module);
      } else {
        const names = statement.childrenForFieldName('name');
        for (let i = 0; i < names.length; i++) {
          const name = names[i];
          if (name.type === 'aliased_import') {
            const alias = name.childForFieldName('alias');
            const dotted = name.childForFieldName('name');
            if (alias && dotted) bound.push([alias.text, joinModule(module, dotted.text)]);
          } else {
            bound.push([name.text, joinModule(module, name.text)]);
          }
        }
      }
    }
    for (let i = 0; i < bound.length; i++) this.bindings.set(bound[i][0], { kind: 'import', qualified: bound[i][1] });
    return bound;
  }

  bindAssignment(target: SyntaxNode, value: SyntaxNode | null): void {
    if (target.type === 'identifier') {
      const previous = this.bindings.get(target.text);
      const once = value && (!previous || previous.kind === 'import' || previous.kind === 'definition');
      this.bindings.set(target.text, once ? { kind: 'value', node: value } : { kind: 'rebound' });
      return;
    }
    for (const inner of namedChildrenOf(target)) this.bindAssignment(inner, null);
  }

  bindDefinition(name: string, isClass: boolean): void {
    this.bindings.set(name, { kind: 'definition', name, isClass });
  }

  markRebound(name: string): void {
    this.bindings.set(name, { kind: 'rebound' });
  }

  /** What the module binds `name` to: an import's dotted name, a value's expression, a definition. */
  binding(name: string): Binding | undefined {
    return this.bindings.get(name);
  }

  /** `pp.mark.parallel` → `pytest_parallel.mark.parallel` when `import pytest_parallel as pp`. */
  qualify(node: SyntaxNode): string | undefined {
    const type = node.type;
    if (type !== 'identifier' && type !== 'attribute') return undefined;
    // An identifier/attribute chain is names and dots (whitespace and comments aside): one text read
    // instead of a wasm round trip per link.
    const dotted = node.text.replace(/\s+/g, '');
    if (!DOTTED_NAME.test(dotted)) return type === 'attribute' ? this.qualifyAttribute(node) : undefined;
    return this.qualifyDotted(dotted);
  }

  /** As qualify, for a dotted name as text. */
  qualifyDotted(dotted: string): string | undefined {
    const dot = dotted.indexOf('.');
    const head = dot < 0 ? dotted : dotted.slice(0, dot);
    const binding = this.bindings.get(head);
    if (binding && binding.kind !== 'import') return undefined;
    return (binding ? binding.qualified : head) + (dot < 0 ? '' : dotted.slice(dot));
  }

  private qualifyAttribute(node: SyntaxNode): string | undefined {
    const object = node.childForFieldName('object');
    const attribute = node.childForFieldName('attribute');
    const base = object && this.qualify(object);
    return base && attribute ? `${base}.${attribute.text}` : undefined;
  }

  /** The object `value` makes gets `obj.__name__ = name` later in the module. */
  rename(value: SyntaxNode, name: SyntaxNode): void {
    this.renamed.set(value.id, name);
  }

  evaluate(node: SyntaxNode, depth = 0): PyValue {
    const renamed = this.renamed.size ? this.renamed.get(node.id) : undefined;
    if (renamed) {
      const name = this.evaluate(renamed, depth);
      return name.kind === 'str' ? { kind: 'named', name: name.value } : unknown(node);
    }
    switch (node.type) {
      case 'integer':
      case 'float': {
        const imaginary = imaginaryRepr(node.text);
        if (imaginary) return { kind: 'formatted', text: imaginary };
        if (node.type === 'float') return { kind: 'float', value: Number(node.text.replace(/_/g, '')) };
        const value = parseIntLiteral(node.text);
        return value === undefined ? unknown(node) : { kind: 'int', value };
      }
      case 'string':
      case 'concatenated_string': return this.evaluateString(node);
      case 'true': return { kind: 'bool', value: true };
      case 'false': return { kind: 'bool', value: false };
      case 'none': return { kind: 'none' };
      case 'parenthesized_expression': return this.evaluate(unparenthesize(node), depth);
      case 'unary_operator': return this.evaluateUnary(node, depth);
      case 'binary_operator': return this.evaluateBinary(node, depth);
      case 'list':
      case 'tuple': {
        const elements = namedChildrenOf(node);
        if (elements.some(e => e.type === 'list_splat' || e.type === 'dictionary_splat')) return unknown(node);
        return { kind: 'sequence', items: elements.map(e => ({ node: e, value: this.evaluate(e, depth) })) };
      }
      case 'dictionary': return this.evaluateDict(node, depth);
      case 'list_comprehension': return this.evaluateComprehension(node, depth);
      case 'generator_expression': {
        const made = this.evaluateComprehension(node, depth);
        return { kind: 'generator', items: made.kind === 'sequence' ? made.items : undefined };
      }
      case 'set':
      case 'set_comprehension':
      case 'dictionary_comprehension': return { kind: 'opaque' };
      case 'lambda': return { kind: 'named', name: '<lambda>' };
      case 'identifier': return this.evaluateName(node, depth);
      case 'attribute': return this.evaluateAttribute(node, depth);
      case 'subscript': return this.evaluateSubscript(node, depth);
      case 'call': return this.evaluateCall(node, depth);
      default: return unknown(node);
    }
  }

  private evaluateString(node: SyntaxNode): PyValue {
    const parts = node.type === 'concatenated_string' ? namedChildrenOf(node) : [node];
    let kind: 'str' | 'bytes' | undefined;
    let value = '';
    for (const part of parts) {
      if (part.type !== 'string' || namedChildrenOf(part).some(c => c.type === 'interpolation')) return unknown(node);
      const decoded = decodeStringLiteral(part.text);
      if (!decoded || (kind && decoded.kind !== kind)) return unknown(node);
      kind = decoded.kind;
      value += decoded.value;
    }
    return kind ? { kind, value } : unknown(node);
  }

  private evaluateUnary(node: SyntaxNode, depth: number): PyValue {
    const operator = node.childForFieldName('operator')?.text;
    const argument = node.childForFieldName('argument');
    if (!argument || (operator !== '-' && operator !== '+')) return unknown(node);
    const operand = this.evaluate(argument, depth);
    const negate = operator === '-';
    if (operand.kind === 'int') return { kind: 'int', value: negate ? -operand.value : operand.value };
    if (operand.kind === 'float') return { kind: 'float', value: negate ? -operand.value : operand.value };
    if (operand.kind === 'bool') return { kind: 'int', value: BigInt(operand.value ? (negate ? -1 : 1) : 0) };
    return unknown(node);
  }

  /** Arithmetic on known numbers and strings, and sequence concatenation; anything else is only known at run time. */
  private evaluateBinary(node: SyntaxNode, depth: number): PyValue {
    const leftNode = node.childForFieldName('left');
    const rightNode = node.childForFieldName('right');
    const operator = node.childForFieldName('operator')?.text;
    if (!leftNode || !rightNode || !operator) return unknown(node);
    const left = this.evaluate(leftNode, depth);
    const right = this.evaluate(rightNode, depth);
    if (left.kind === 'unknown' || right.kind === 'unknown') return unknown(node);
    if (left.kind === 'sequence' && right.kind === 'sequence' && operator === '+') return { kind: 'sequence', items: [...left.items, ...right.items] };
    if (left.kind === 'sequence' && right.kind === 'int' && operator === '*') {
      if (right.value * BigInt(left.items.length) > BigInt(MAX_SEQUENCE)) return unknown(node);
      return { kind: 'sequence', items: Array.from({ length: Math.max(0, Number(right.value)) }, () => left.items).flat() };
    }
    if ((left.kind === 'str' || left.kind === 'bytes') && left.kind === right.kind && operator === '+') return { kind: left.kind, value: left.value + right.value };
    if ((left.kind === 'str' || left.kind === 'bytes') && right.kind === 'int' && operator === '*') {
      return right.value * BigInt(left.value.length) > BigInt(MAX_SEQUENCE) ? unknown(node) : { kind: left.kind, value: left.value.repeat(Math.max(0, Number(right.value))) };
    }
    const a = numberOf(left);
    const b = numberOf(right);
    if (a === undefined || b === undefined) return unknown(node);
    if (typeof a === 'bigint' && typeof b === 'bigint') {
      switch (operator) {
        case '+': return { kind: 'int', value: a + b };
        case '-': return { kind: 'int', value: a - b };
        case '*': return { kind: 'int', value: a * b };
        case '**': return b >= 0n && b < 4096n ? { kind: 'int', value: a ** b } : unknown(node);
        case '//': return b !== 0n ? { kind: 'int', value: floorDiv(a, b) } : unknown(node);
        case '%': return b !== 0n ? { kind: 'int', value: a - floorDiv(a, b) * b } : unknown(node);
        // Exact below 2**53, where both operands convert to doubles without rounding.
        case '/': return b !== 0n && abs(a) < 2n ** 53n && abs(b) < 2n ** 53n ? { kind: 'float', value: Number(a) / Number(b) } : unknown(node);
        default: return unknown(node);
      }
    }
    const x = Number(a);
    const y = Number(b);
    // Only the operations IEEE 754 rounds exactly as CPython does.
    switch (operator) {
      case '+': return { kind: 'float', value: x + y };
      case '-': return { kind: 'float', value: x - y };
      case '*': return { kind: 'float', value: x * y };
      case '/': return y !== 0 ? { kind: 'float', value: x / y } : unknown(node);
      default: return unknown(node);
    }
  }

  private evaluateName(node: SyntaxNode, depth: number): PyValue {
    const name = node.text;
    if (this.locals !== NO_LOCALS) {
      const local = this.locals.get(name);
      if (local) return local;
    }
    const inClass = this.classScope;
    if (inClass) {
      const assigned = inClass.assignments.get(name);
      if (assigned && depth < MAX_NAME_DEPTH) {
        const value = this.evaluate(assigned, depth + 1);
        return value.kind === 'unknown' ? unknown(node) : value;
      }
      const member = inClass.members.get(name);
      if (member) return { kind: 'named', name: member.name };
    }
    const binding = this.bindings.get(name);
    if (!binding) {
      for (let i = this.wildcardModules.length - 1; i >= 0; i--) {
        const value = this.context?.importedValue(joinModule(this.wildcardModules[i], name), depth + 1);
        if (value) return value;
      }
      if (this.wildcardModules.length) return unknown(node);
      return BUILTIN_NAMED.has(name) ? { kind: 'named', name } : unknown(node);
    }
    if (binding.kind === 'definition') return { kind: 'named', name: binding.name };
    if (depth >= MAX_NAME_DEPTH) return unknown(node);
    if (binding.kind === 'value') {
      // A list, dict or set that a function or a later statement fills in holds what the run put there.
      if (MUTABLE_LITERALS.has(binding.node.type) && this.context?.isMutated(name)) return unknown(node);
      const value = this.atModuleLevel(() => this.evaluate(binding.node, depth + 1));
      // A name's unknown value is reported under the name the reader sees at the use site.
      return value.kind === 'unknown' ? unknown(node) : value;
    }
    if (binding.kind === 'import') return this.importedValue(binding.qualified, depth, name) ?? unknown(node);
    return unknown(node);
  }

  /** A module-level expression sees neither the class body nor the comprehension it is used from. */
  private atModuleLevel<T>(read: () => T): T {
    if (!this.classScope && !this.locals.size) return read();
    const classScope = this.classScope;
    const locals = new Map(this.locals);
    this.classScope = undefined;
    this.locals.clear();
    try {
      return read();
    } finally {
      this.classScope = classScope;
      for (const [k, v] of locals) this.locals.set(k, v);
    }
  }

  /**
   * An imported name's value (`spelled`: as the module writes it). From outside the project: a
   * CapWords name is a class, named by it; a lowercase one the module calls is a function, named by it;
   * anything else only the run knows.
   */
  private importedValue(qualified: string, depth: number, spelled: string): PyValue | undefined {
    const constant = KNOWN_CONSTANTS.get(qualified);
    if (constant) return constant;
    if (qualified.startsWith('numpy.')) {
      const name = NUMPY_CLASSES.get(qualified.slice(6));
      return name ? { kind: 'named', name } : undefined;
    }
    const fromProject = this.context?.importedValue(qualified, depth + 1);
    if (fromProject !== undefined) return fromProject ?? undefined;
    const last = qualified.slice(qualified.lastIndexOf('.') + 1);
    if (!last || qualified.startsWith('.') || !qualified.includes('.')) return undefined;
    // The operator module holds functions only, each named as its attribute.
    if (qualified === `operator.${last}` && /^[a-z_]+$/.test(last)) return { kind: 'named', name: last };
    if (/^_*[A-Z]/.test(last) && /[a-z]/.test(last)) return { kind: 'named', name: last };
    if (/^_*[a-z]/.test(last) && this.context?.isCalled(spelled)) return { kind: 'named', name: last };
    return undefined;
  }

  private evaluateAttribute(node: SyntaxNode, depth: number): PyValue {
    const object = node.childForFieldName('object');
    const attribute = node.childForFieldName('attribute');
    if (!object || !attribute) return unknown(node);
    if (object.type === 'identifier') {
      const binding = this.bindings.get(object.text);
      if (binding?.kind === 'definition' && binding.isClass) return this.context?.classAttribute(binding.name, attribute.text, depth + 1) ?? unknown(node);
    }
    // Only a name the module imports leads to another module's attribute; an attribute of a local
    // object or of an unbound name is only known at run time.
    const head = node.text.split('.')[0].trim();
    if (this.locals.has(head) || this.classScope?.assignments.has(head) || this.bindings.get(head)?.kind !== 'import') return unknown(node);
    const qualified = this.qualify(node);
    return (qualified && depth < MAX_NAME_DEPTH && this.importedValue(qualified, depth, node.text.replace(/\s+/g, ''))) || unknown(node);
  }

  private evaluateSubscript(node: SyntaxNode, depth: number): PyValue {
    const object = node.childForFieldName('value');
    if (!object) return unknown(node);
    const qualified = this.qualify(object);
    if (qualified && OPAQUE_SUBSCRIPTS.has(qualified)) return { kind: 'opaque' };
    const indexNodes = node.childrenForFieldName('subscript');
    const container = this.evaluate(object, depth);
    if (container.kind === 'sequence' && indexNodes.length === 1) {
      const index = this.evaluate(indexNodes[0], depth);
      if (index.kind === 'int') {
        const at = Number(index.value < 0n ? index.value + BigInt(container.items.length) : index.value);
        const item = container.items[at];
        if (item) return item.value;
      }
    }
    return unknown(node);
  }

  private evaluateCall(node: SyntaxNode, depth: number): PyValue {
    const callee = node.childForFieldName('function');
    if (!callee) return unknown(node);
    const name = this.qualify(callee);
    const args = namedChildrenOf(node.childForFieldName('arguments'));
    if (name === 'numpy.arange' && args.length >= 1 && args.length <= 3) {
      // As argvalues: one parameter set per element, each a numpy integer pytest names argname + index.
      const range = this.evaluateRange(node, args, depth);
      if (range.kind === 'sequence') return { kind: 'sequence', items: range.items.map(() => ({ value: { kind: 'opaque' } })) };
    }
    if (name && OPAQUE_CALLS.has(name)) return { kind: 'opaque' };
    if (name === 'range' && args.length >= 1 && args.length <= 3) return this.evaluateRange(node, args, depth);
    if (name && FLOAT_CALLS.has(name) && args.length === 1) {
      const value = this.evaluate(args[0], depth);
      if (value.kind === 'float') return value;
      if (value.kind === 'int') return { kind: 'float', value: Number(value.value) };
      if (value.kind === 'str') {
        const text = value.value.trim().toLowerCase().replace(/_/g, '');
        if (/^[+-]?(inf|infinity|nan)$/.test(text)) return { kind: 'float', value: text.includes('nan') ? NaN : text.startsWith('-') ? -Infinity : Infinity };
        if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) return { kind: 'float', value: Number(text) };
      }
      return unknown(node);
    }
    if (name === 'textwrap.dedent' && args.length === 1) {
      const text = this.evaluate(args[0], depth);
      const dedented = text.kind === 'str' ? pyDedent(text.value) : undefined;
      return dedented === undefined ? unknown(node) : { kind: 'str', value: dedented };
    }
    if (name === 're.compile' && args.length >= 1) {
      const pattern = this.evaluate(args[0], depth);
      if (pattern.kind === 'str') return { kind: 'formatted', text: asciiEscapedStr(pattern.value) };
      if (pattern.kind === 'bytes') return { kind: 'formatted', text: asciiEscapedBytes(pattern.value) };
      return unknown(node);
    }
    if (name && SEQUENCE_CALLS.has(name) && args.length === 1) {
      const sequence = this.evaluate(args[0], depth);
      const items = this.iterate(sequence);
      if (items) return sequenceCall(name, items) ?? unknown(node);
      if (name === 'list' || name === 'tuple') return { kind: 'opaque' };
      return unknown(node);
    }
    if (name === 'pytest.param') return { kind: 'opaque' };
    if (callee.type === 'attribute' && !(name && this.bindings.get(name.split('.')[0])?.kind === 'import')) {
      // `CASES.items()` of a dict literal; methods of numbers and strings give numbers and strings.
      const object = callee.childForFieldName('object');
      const method = callee.childForFieldName('attribute')?.text;
      const target = object ? this.evaluate(object, depth) : undefined;
      if (target?.kind === 'dict' && !args.length) {
        if (method === 'keys') return { kind: 'sequence', items: target.entries.map(([key]) => ({ value: key })) };
        if (method === 'values') return { kind: 'sequence', items: target.entries.map(([, value]) => ({ value })) };
        if (method === 'items') return { kind: 'sequence', items: target.entries.map(([key, value]) => ({ value: { kind: 'sequence', items: [{ value: key }, { value }] } })) };
      }
      if (target && ['str', 'bytes', 'int', 'float', 'bool', 'none', 'formatted'].includes(target.kind)) return unknown(node);
    }
    if (callee.type === 'identifier') {
      const binding = this.bindings.get(callee.text);
      if (binding?.kind === 'definition' && binding.isClass) return this.context?.instanceOf(binding.name) ?? unknown(node);
      // A called value (an instance with __call__, a functools.partial): only the run knows what it returns.
      if (binding?.kind === 'value' || binding?.kind === 'rebound') return unknown(node);
    }
    if (name) {
      if (this.bindings.get(callee.text.split('.')[0].trim())?.kind === 'import') {
        const fromProject = this.context?.importedInstance(name);
        if (fromProject) return fromProject;
        if (fromProject === null) return unknown(node);
      }
      if (PRIMITIVE_CALLS.has(name) || PRIMITIVE_MODULES.some(m => name.startsWith(m))) return unknown(node);
    }
    // Anything else a call makes is taken for an object (a graph, a mesh, an array): pytest names it
    // argname + index.
    return { kind: 'opaque', assumed: sourceOf(node) };
  }

  /** The items a value iterates over, when known: a sequence, a dict's keys, a string's characters. */
  private iterate(value: PyValue): SequenceItem[] | undefined {
    if (value.kind === 'sequence' || value.kind === 'generator') return value.items;
    if (value.kind === 'dict') return value.entries.map(([key]) => ({ value: key }));
    if (value.kind === 'str') return [...value.value].map(ch => ({ value: { kind: 'str', value: ch } }));
    return undefined;
  }

  private evaluateDict(node: SyntaxNode, depth: number): PyValue {
    const entries: [PyValue, PyValue][] = [];
    for (const pair of namedChildrenOf(node)) {
      const key = pair.childForFieldName('key');
      const value = pair.childForFieldName('value');
      if (pair.type !== 'pair' || !key || !value) return { kind: 'opaque' };
      entries.push([this.evaluate(key, depth), this.evaluate(value, depth)]);
    }
    return { kind: 'dict', entries };
  }

  /** `[f(x) for x in XS]` over a known sequence, one `for` and no `if`; else only the run knows it. */
  private evaluateComprehension(node: SyntaxNode, depth: number): PyValue {
    const clauses = namedChildrenOf(node).slice(1);
    const body = node.childForFieldName('body');
    const clause = clauses[0];
    if (!body || clauses.length !== 1 || clause.type !== 'for_in_clause') return unknown(node);
    const target = clause.childForFieldName('left');
    const iterable = clause.childForFieldName('right');
    const items = iterable ? this.iterate(this.evaluate(iterable, depth)) : undefined;
    if (!target || !items || items.length > MAX_SEQUENCE) return unknown(node);
    const names = target.type === 'identifier' ? [target] : target.type === 'pattern_list' || target.type === 'tuple_pattern' ? namedChildrenOf(target) : [];
    if (!names.length || names.some(n => n.type !== 'identifier')) return unknown(node);
    if (this.locals === NO_LOCALS) this.locals = new Map();
    const saved = new Map(this.locals);
    try {
      const results: SequenceItem[] = [];
      for (const item of items) {
        if (names.length === 1) {
          this.locals.set(names[0].text, item.value);
        } else {
          const parts = this.iterate(item.value);
          if (!parts || parts.length !== names.length) return unknown(node);
          names.forEach((n, i) => this.locals.set(n.text, parts[i].value));
        }
        const value = this.evaluate(body, depth + 1);
        if (value.kind === 'unknown') return unknown(node);
        results.push({ value });
      }
      return { kind: 'sequence', items: results };
    } finally {
      this.locals.clear();
      for (const [k, v] of saved) this.locals.set(k, v);
    }
  }

  private evaluateRange(node: SyntaxNode, args: readonly SyntaxNode[], depth: number): PyValue {
    const bounds = args.map(a => this.evaluate(a, depth)).map(b => (b.kind === 'int' ? b.value : undefined));
    if (!bounds.every(b => b !== undefined)) return unknown(node);
    const [start, stop, step] = bounds.length === 1 ? [0n, bounds[0], 1n] : [bounds[0], bounds[1], bounds[2] ?? 1n];
    if (step === 0n) return unknown(node);
    const items: SequenceItem[] = [];
    for (let i = start; step > 0n ? i < stop : i > stop; i += step) {
      items.push({ value: { kind: 'int', value: i } });
      if (items.length > MAX_SEQUENCE) return unknown(node);
    }
    return { kind: 'sequence', items };
  }
}

/** list(), tuple(), sorted() (of numbers or of strings), reversed(), enumerate() of known items. */
function sequenceCall(name: string, items: SequenceItem[]): PyValue | undefined {
  switch (name) {
    case 'list':
    case 'tuple': return { kind: 'sequence', items };
    case 'reversed': return { kind: 'sequence', items: [...items].reverse() };
    case 'enumerate': return { kind: 'sequence', items: items.map((item, i) => ({ value: { kind: 'sequence', items: [{ value: { kind: 'int', value: BigInt(i) } }, item] } })) };
    case 'sorted': {
      if (items.every(i => i.value.kind === 'int' || i.value.kind === 'float')) {
        return { kind: 'sequence', items: [...items].sort((a, b) => Number(numberOf(a.value)) - Number(numberOf(b.value))) };
      }
      if (items.every(i => i.value.kind === 'str')) {
        const text = (i: SequenceItem) => (i.value as { value: string }).value;
        return { kind: 'sequence', items: [...items].sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0)) };
      }
      return undefined;
    }
    default: return undefined;
  }
}

/** `pkg.mod` + `name`, or `..` + `name` for a relative module that is only dots. */
export function joinModule(module: string, name: string): string {
  return module.endsWith('.') ? `${module}${name}` : `${module}.${name}`;
}

function numberOf(value: PyValue): bigint | number | undefined {
  if (value.kind === 'int') return value.value;
  if (value.kind === 'float') return value.value;
  if (value.kind === 'bool') return value.value ? 1n : 0n;
  return undefined;
}

function abs(n: bigint): bigint {
  return n < 0n ? -n : n;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

export function unknown(node: SyntaxNode): PyValue {
  return { kind: 'unknown', source: sourceOf(node) };
}

/** An expression as written, on one line and shortened, for messages. */
export function sourceOf(node: SyntaxNode): string {
  const text = node.text.replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The text pytest puts in a parametrize id for this value: a string, `null` when pytest falls back to
 * `argname + index`, or undefined when only the run can tell. `keepNonAscii`: the ini option that
 * turns pytest's escaping of str values off.
 */
export function idOf(value: PyValue, keepNonAscii = false): string | null | undefined {
  switch (value.kind) {
    case 'int': return value.value.toString();
    case 'float': return pyFloatRepr(value.value);
    case 'formatted': return value.text;
    case 'str': return keepNonAscii ? value.value : asciiEscapedStr(value.value);
    case 'bytes': return asciiEscapedBytes(value.value);
    case 'bool': return value.value ? 'True' : 'False';
    case 'none': return 'None';
    case 'named': return value.name;
    case 'generator': return '<genexpr>';
    case 'sequence':
    case 'dict':
    case 'opaque': return null;
    case 'unknown': return undefined;
  }
}
