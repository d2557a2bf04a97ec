// Module and class bodies as discovery reads them: definitions, decorators, assignments, call arguments.
import type { SyntaxNode } from './syntax';
import type { SourceRange } from '../types';
import { namedChildrenOf } from './scope';

export interface Definition { kind: 'function' | 'class'; name: string; node: SyntaxNode; nameNode: SyntaxNode; decorators: SyntaxNode[] }

/** Code under `if`/`elif`/`else` runs when each of its branches' conditions has the truth value `when`. */
export interface Branch { condition: SyntaxNode; when: boolean }

export interface CallArguments { positional: SyntaxNode[]; keywords: Map<string, SyntaxNode>; unpacked: boolean }

/** Statements whose bodies still bind module/class names (`if`, `try`, ...), and error-recovery nodes. */
export const TRANSPARENT_STATEMENTS = new Set(['if_statement', 'elif_clause', 'else_clause', 'try_statement', 'except_clause',
  'except_group_clause', 'finally_clause', 'with_statement', 'for_statement', 'while_statement', 'block', 'ERROR']);

const EXCEPT_CLAUSES = new Set(['except_clause', 'except_group_clause']);

type StatementVisitor = (statement: SyntaxNode, nested: boolean, branches: readonly Branch[]) => void;

/**
 * Visits the statements of a module or class body, looking through `if`/`try`/... and error nodes. Inside
 * an error node (an unclosed bracket while typing swallows everything after it) the pieces of a
 * `@decorator def name(` are still there as loose tokens; they come back as recovered definitions.
 * `nested` says whether the statement sits inside such a compound statement, `branches` which `if`
 * branches it sits in.
 */
export function forEachStatement(container: SyntaxNode | null, visit: StatementVisitor,
  visitRecovered: (definition: Definition) => void, nested = false, branches: readonly Branch[] = []): void {
  if (!container) return;
  if (container.type === 'ERROR') {
    forEachInError(container, visit, visitRecovered);
    return;
  }
  if (container.type === 'if_statement') {
    forEachBranch(container, visit, visitRecovered, branches);
    return;
  }
  let children = namedChildrenOf(container);
  // The except clauses first: what they bind is the fallback, and the try body's bindings (the path taken
  // when nothing fails) replace it, as for `try: import numpy as np` / `except ImportError: np = None`.
  if (container.type === 'try_statement') children = [...children.filter(c => EXCEPT_CLAUSES.has(c.type)), ...children.filter(c => !EXCEPT_CLAUSES.has(c.type))];
  for (const node of children) {
    if (TRANSPARENT_STATEMENTS.has(node.type)) forEachStatement(node, visit, visitRecovered, true, branches);
    else visit(node, nested, branches);
  }
}

/** The branches of an `if`: each `elif` and the `else` run when the conditions before them are false. */
function forEachBranch(statement: SyntaxNode, visit: StatementVisitor, visitRecovered: (definition: Definition) => void, outer: readonly Branch[]): void {
  const failed: Branch[] = [];
  const branch = (condition: SyntaxNode | null, body: SyntaxNode | null) => {
    forEachStatement(body, visit, visitRecovered, true, condition ? [...outer, ...failed, { condition, when: true }] : [...outer, ...failed]);
    if (condition) failed.push({ condition, when: false });
  };
  branch(statement.childForFieldName('condition'), statement.childForFieldName('consequence'));
  for (const alternative of statement.childrenForFieldName('alternative')) {
    if (alternative.type === 'elif_clause') branch(alternative.childForFieldName('condition'), alternative.childForFieldName('consequence'));
    else branch(null, alternative.childForFieldName('body'));
  }
}

function forEachInError(error: SyntaxNode, visit: StatementVisitor, visitRecovered: (definition: Definition) => void): void {
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
      if (TRANSPARENT_STATEMENTS.has(child.type)) forEachStatement(child, visit, visitRecovered, true);
      else visit(child, true, []);
    }
    decorators = [];
  }
}

export function definitionOf(statement: SyntaxNode): Definition | undefined {
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
export function assignmentsOf(expression: SyntaxNode): [SyntaxNode, SyntaxNode][] {
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

export function argumentsOf(call: SyntaxNode | undefined): CallArguments {
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

/**
 * pytest's getfuncargnames: the parameters a test or fixture requests, i.e. positional-or-keyword and
 * keyword-only ones without a default; `dropFirst` for methods (`self`).
 */
export function argnamesOf(fn: SyntaxNode, dropFirst: boolean): string[] {
  const names: string[] = [];
  let positionalOnlyEnd = -1;
  const parameters = namedChildrenOf(fn.childForFieldName('parameters'));
  parameters.forEach((p, i) => { if (p.type === 'positional_separator') positionalOnlyEnd = i; });
  let first = true;
  parameters.forEach((p, i) => {
    if (p.type === 'keyword_separator' || p.type === 'positional_separator') return;
    const isFirst = first;
    first = false;
    if (dropFirst && isFirst) return;
    if (i < positionalOnlyEnd) return;
    if (p.type === 'identifier') names.push(p.text);
    else if (p.type === 'typed_parameter') {
      const name = namedChildrenOf(p)[0];
      if (name?.type === 'identifier') names.push(name.text);
    }
  });
  return names;
}

export function rangeOf(node: SyntaxNode): SourceRange {
  const start = node.startPosition;
  const end = node.endPosition;
  return { line: start.row + 1, column: start.column, endLine: end.row + 1, endColumn: end.column };
}

/** Every descendant of `node` (depth first), for the rare reads inside function bodies (hooks). */
export function forEachDescendant(node: SyntaxNode, visit: (node: SyntaxNode) => void): void {
  for (const child of namedChildrenOf(node)) {
    visit(child);
    forEachDescendant(child, visit);
  }
}
