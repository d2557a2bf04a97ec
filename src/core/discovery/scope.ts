import type { SyntaxNode } from './syntax';
import { asciiEscapedBytes, asciiEscapedStr, decodeStringLiteral, imaginaryRepr, parseIntLiteral, pyFloatRepr } from './literals';

/** What the parser knows statically about a Python expression's value. */
export type PyValue =
  | { kind: 'int'; value: bigint }
  | { kind: 'float'; value: number }
  /** A value whose id text is known but whose type matters no further (complex numbers). */
  | { kind: 'formatted'; text: string }
  | { kind: 'str' | 'bytes'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  /** Classes, functions and lambdas: pytest ids them by `__name__`. */
  | { kind: 'named'; name: string }
  | { kind: 'sequence'; items: SequenceItem[] }
  /** A value pytest ids as `argname + index` (dicts, sets, plain objects). */
  | { kind: 'opaque' }
  /** Only known at run time; `source` is the expression as written. */
  | { kind: 'unknown'; source: string };

export interface SequenceItem { node?: SyntaxNode; value: PyValue }

type Binding =
  | { kind: 'import'; qualified: string }
  | { kind: 'value'; node: SyntaxNode }
  | { kind: 'definition'; name: string }
  /** Bound more than once, or by a loop/with/augmented assignment: only the run knows its value. */
  | { kind: 'rebound' };

/** Names pytest's `__name__` rule applies to when the module does not rebind them. */
const BUILTIN_NAMED = new Set(['int', 'float', 'str', 'bytes', 'bool', 'complex', 'list', 'dict', 'set', 'tuple',
  'frozenset', 'object', 'type', 'bytearray', 'range', 'len', 'print', 'sum', 'min', 'max', 'abs', 'repr', 'sorted']);
/** Builtin constructors whose results have no `__name__` and are not id-able primitives. */
const BUILTIN_OPAQUE_CALLS = new Set(['object', 'dict', 'list', 'set', 'tuple', 'frozenset', 'bytearray']);
/** What `from X import *` binds for the modules discovery cares about. */
const WILDCARD_EXPORTS: Record<string, string[]> = {
  pytest: ['mark', 'param', 'fixture'],
  pytest_parallel: ['mark'],
  'pytest_parallel.mark': ['parallel'],
  unittest: ['TestCase', 'IsolatedAsyncioTestCase'],
};
const MAX_NAME_DEPTH = 8;
const DOTTED_NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*(\.[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*)*$/u;

export function namedChildrenOf(node: SyntaxNode | null): SyntaxNode[] {
  if (!node) return [];
  // One wasm call for all children (cached on the node), instead of one per namedChild(i).
  return node.namedChildren.filter(child => child.type !== 'comment');
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

/** The module's top-level names: imports (for resolving `pp.mark.parallel`) and literal constants. */
export class ModuleScope {
  private readonly bindings = new Map<string, Binding>();

  bindImport(statement: SyntaxNode): void {
    if (statement.type === 'import_statement') {
      for (const name of statement.childrenForFieldName('name')) {
        if (name.type === 'aliased_import') {
          const alias = name.childForFieldName('alias');
          const dotted = name.childForFieldName('name');
          if (alias && dotted) this.bindings.set(alias.text, { kind: 'import', qualified: dotted.text });
        } else {
          const root = name.text.split('.')[0];
          this.bindings.set(root, { kind: 'import', qualified: root });
        }
      }
      return;
    }
    const moduleNode = statement.childForFieldName('module_name');
    if (!moduleNode) return;
    // Relative imports name the project's own modules, never the test frameworks.
    const module = moduleNode.type === 'relative_import' ? undefined : moduleNode.text.replace(/\s+/g, '');
    const bind = (local: string, imported: string) =>
      this.bindings.set(local, module ? { kind: 'import', qualified: `${module}.${imported}` } : { kind: 'rebound' });
    if (namedChildrenOf(statement).some(c => c.type === 'wildcard_import')) {
      for (const exported of (module && WILDCARD_EXPORTS[module]) || []) bind(exported, exported);
      return;
    }
    for (const name of statement.childrenForFieldName('name')) {
      if (name.type === 'aliased_import') {
        const alias = name.childForFieldName('alias');
        const dotted = name.childForFieldName('name');
        if (alias && dotted) bind(alias.text, dotted.text);
      } else {
        bind(name.text, name.text);
      }
    }
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

  bindDefinition(name: string): void {
    this.bindings.set(name, { kind: 'definition', name });
  }

  markRebound(name: string): void {
    this.bindings.set(name, { kind: 'rebound' });
  }

  /** `pp.mark.parallel` → `pytest_parallel.mark.parallel` when `import pytest_parallel as pp`. */
  qualify(node: SyntaxNode): string | undefined {
    const type = node.type;
    if (type !== 'identifier' && type !== 'attribute') return undefined;
    // An identifier/attribute chain is names and dots (whitespace and comments aside): one text read
    // instead of a wasm round trip per link.
    const dotted = node.text.replace(/\s+/g, '');
    if (!DOTTED_NAME.test(dotted)) return type === 'attribute' ? this.qualifyAttribute(node) : undefined;
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

  evaluate(node: SyntaxNode, depth = 0): PyValue {
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
      case 'list':
      case 'tuple': {
        const elements = namedChildrenOf(node);
        if (elements.some(e => e.type === 'list_splat' || e.type === 'dictionary_splat')) return unknown(node);
        return { kind: 'sequence', items: elements.map(e => ({ node: e, value: this.evaluate(e, depth) })) };
      }
      case 'dictionary':
      case 'set':
      case 'list_comprehension':
      case 'set_comprehension':
      case 'dictionary_comprehension': return { kind: 'opaque' };
      case 'lambda': return { kind: 'named', name: '<lambda>' };
      case 'identifier': return this.evaluateName(node, depth);
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

  private evaluateName(node: SyntaxNode, depth: number): PyValue {
    const binding = this.bindings.get(node.text);
    if (!binding) return BUILTIN_NAMED.has(node.text) ? { kind: 'named', name: node.text } : unknown(node);
    if (binding.kind === 'definition') return { kind: 'named', name: binding.name };
    if (binding.kind === 'value' && depth < MAX_NAME_DEPTH) {
      const value = this.evaluate(binding.node, depth + 1);
      // A name's unknown value is reported under the name the reader sees at the use site.
      return value.kind === 'unknown' ? unknown(node) : value;
    }
    return unknown(node);
  }

  private evaluateCall(node: SyntaxNode, depth: number): PyValue {
    const callee = node.childForFieldName('function');
    const name = callee && this.qualify(callee);
    const args = namedChildrenOf(node.childForFieldName('arguments'));
    if (name && BUILTIN_OPAQUE_CALLS.has(name)) return { kind: 'opaque' };
    if (name === 'range' && args.length >= 1 && args.length <= 3) {
      const bounds = args.map(a => this.evaluate(a, depth)).map(b => (b.kind === 'int' ? b.value : undefined));
      if (bounds.every(b => b !== undefined)) {
        const [start, stop, step] = bounds.length === 1 ? [0n, bounds[0], 1n] : [bounds[0], bounds[1], bounds[2] ?? 1n];
        if (step === 0n) return unknown(node);
        const items: SequenceItem[] = [];
        for (let i = start; step > 0n ? i < stop : i > stop; i += step) {
          items.push({ value: { kind: 'int', value: i } });
          if (items.length > 10_000) return unknown(node);
        }
        return { kind: 'sequence', items };
      }
    }
    return unknown(node);
  }
}

function unknown(node: SyntaxNode): PyValue {
  return { kind: 'unknown', source: sourceOf(node) };
}

/** An expression as written, on one line and shortened, for messages. */
export function sourceOf(node: SyntaxNode): string {
  const text = node.text.replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The text pytest puts in a parametrize id for this value: a string, `null` when pytest falls back to
 * `argname + index`, or undefined when only the run can tell.
 */
export function idOf(value: PyValue): string | null | undefined {
  switch (value.kind) {
    case 'int': return value.value.toString();
    case 'float': return pyFloatRepr(value.value);
    case 'formatted': return value.text;
    case 'str': return asciiEscapedStr(value.value);
    case 'bytes': return asciiEscapedBytes(value.value);
    case 'bool': return value.value ? 'True' : 'False';
    case 'none': return 'None';
    case 'named': return value.name;
    case 'sequence':
    case 'opaque': return null;
    case 'unknown': return undefined;
  }
}
