// A Python parser in plain TypeScript that builds the trees tree-sitter-python builds (same node types,
// fields and ranges), without comment and line-continuation nodes, for the files it accepts. It accepts valid Python only and
// refuses the rest (NotParsed): syntax errors, and the few forms whose tree-sitter shape it does not
// reproduce (match and type statements, Python 2 print/exec). parser.ts then parses the file with
// tree-sitter, which also recovers from errors. discovery-pyparse.test.ts compares both parsers node for
// node on the test fixtures, the standard library and Debian's Python packages.
//
// Why it exists: web-tree-sitter parses ~5 MB/s and every node read crosses into wasm; this parser
// parses twice as fast, and with its plain objects a cold discovery of 5,000 files takes 1.11 s instead of
// 1.45 s (docs/ARCHITECTURE.md).
import type { Point, SyntaxNode } from './syntax';

/** Thrown when the text is not something this parser reproduces tree-sitter's tree for. */
export class NotParsed extends Error {}

function refuse(what: string): never {
  throw new NotParsed(what);
}

/** The text of one parsed file and its line starts (rows are counted in `\n`, as tree-sitter counts them). */
class SourceText {
  private lineStarts?: number[];

  constructor(readonly text: string) {}

  position(index: number): Point {
    const starts = (this.lineStarts ??= lineStartsOf(this.text));
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle] <= index) low = middle;
      else high = middle - 1;
    }
    return { row: low, column: index - starts[low] };
  }
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) starts.push(at + 1);
  return starts;
}

// Ids only need to be unique among the nodes of one tree; negative ones never meet tree-sitter's.
let lastId = 0;

// Every leaf's children: one array, not one each (a file's tokens are half its nodes).
const NO_KIDS: readonly PyNode[] = [];

export class PyNode implements SyntaxNode {
  readonly id = --lastId;
  private named?: readonly PyNode[];

  constructor(readonly tree: SourceText, readonly type: string, readonly isNamed: boolean, readonly startIndex: number,
    readonly endIndex: number, readonly children: readonly PyNode[], private readonly fields?: (string | undefined)[]) {}

  get hasError(): boolean {
    return false;
  }

  get isMissing(): boolean {
    return false;
  }

  get startPosition(): Point {
    return this.tree.position(this.startIndex);
  }

  get endPosition(): Point {
    return this.tree.position(this.endIndex);
  }

  get text(): string {
    return this.tree.text.slice(this.startIndex, this.endIndex);
  }

  get namedChildren(): readonly PyNode[] {
    return (this.named ??= this.children.length ? this.children.filter(child => child.isNamed) : NO_KIDS);
  }

  childForFieldName(name: string): PyNode | null {
    const fields = this.fields;
    if (fields) for (let i = 0; i < fields.length; i++) if (fields[i] === name) return this.children[i];
    return null;
  }

  childrenForFieldName(name: string): readonly PyNode[] {
    const fields = this.fields;
    return fields ? this.children.filter((_, i) => fields[i] === name) : NO_KIDS;
  }

  /** The field each child is in (tests compare it with tree-sitter's). */
  fieldOf(index: number): string | undefined {
    return this.fields?.[index];
  }
}

// ---- tokens ----

const enum Kind { Name, Number, StringStart, Op, Newline, Indent, Dedent, End }

interface Token {
  kind: Kind;
  start: number;
  end: number;
  /** Names and operators: their text. */
  value: string;
  /** Number: whether a float. Indent: where the block starts. Dedent: where the closed block ends. */
  at: number;
}

const OPERATORS_3 = new Set(['**=', '//=', '>>=', '<<=', '...']);
const OPERATORS_2 = new Set(['**', '//', '<<', '>>', '<=', '>=', '==', '!=', '->', '+=', '-=', '*=', '/=', '%=', '&=',
  '|=', '^=', '@=', ':=', '<>']);
const OPERATOR_1 = '+-*/%@&|^~<>()[]{},:.;=!';
/** Characters no longer operator starts with: brackets and separators, the most common ones. */
const SINGLE_OPERATORS = '()[]{},;~';

/** The length of the operator at `start` (0 for none). */
function operatorLength(text: string, start: number): number {
  if (SINGLE_OPERATORS.includes(text[start])) return 1;
  if (!OPERATOR_1.includes(text[start])) return 0;
  const next = text.charCodeAt(start + 1);
  // Every longer operator's second character is one of = * / < > - . (`->`, `...`, `**`, `//`, `<<`...).
  if (next !== 61 && next !== 42 && next !== 47 && next !== 60 && next !== 62 && next !== 46) return 1;
  if (OPERATORS_3.has(text.slice(start, start + 3))) return 3;
  if (OPERATORS_2.has(text.slice(start, start + 2))) return 2;
  return 1;
}

const enum Char { Tab = 9, Newline = 10, FormFeed = 12, Return = 13, Space = 32, Hash = 35, Quote = 34, Apostrophe = 39, Backslash = 92 }

function isNameStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || (code > 127 && NAME_START.test(String.fromCharCode(code)));
}

function isNameChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || (code >= 48 && code <= 57)
    || (code > 127 && NAME_CHAR.test(String.fromCharCode(code)));
}

const NAME_START = /[\p{XID_Start}]/u;
const NAME_CHAR = /[\p{XID_Continue}]/u;
const NUMBER = /(?:0[xX](?:_?[0-9a-fA-F]+)+[lL]?|0[oO](?:_?[0-7]+)+[lL]?|0[bB](?:_?[01]+)+[lL]?|((?:[0-9]+_?)+\.(?:(?:[0-9]+_?)+)?(?:[eE][+-]?(?:[0-9]+_?)+)?|\.(?:[0-9]+_?)+(?:[eE][+-]?(?:[0-9]+_?)+)?|(?:[0-9]+_?)+[eE][+-]?(?:[0-9]+_?)+)[jJ]?|(?:[0-9]+_?)+[lLjJ]?)/y;
const STRING_PREFIX = /^[fFtTrRbBuU]+$/;
/** After the digits of a number, what makes it more than a decimal integer. */
const NUMBER_CONTINUES = /[._eEjJlLxXoObB0-9a-zA-Z]/;

/**
 * Python's tokens with tree-sitter-python's NEWLINE/INDENT/DEDENT rules (its scanner.c): a block closes
 * before the first comment line indented less than the block, so comments indented like a block are
 * part of it and move its end.
 */
class Lexer {
  pos = 0;
  /** Bracket depth: newlines inside brackets are whitespace. */
  depth = 0;
  /** The end of the last token or comment read, which is where a block that closes now ends. */
  lastEnd = 0;
  private readonly indents = [0];
  private readonly pending: Token[] = [];
  private lineHasTokens = false;
  // The two token objects emit() takes turns with.
  private turn = false;
  private readonly first: Token = { kind: Kind.End, start: 0, end: 0, value: '', at: 0 };
  private readonly second: Token = { kind: Kind.End, start: 0, end: 0, value: '', at: 0 };

  constructor(readonly text: string) {}

  next(): Token {
    if (this.pending.length) return this.pending.shift()!;
    const text = this.text;
    for (;;) {
      const code = text.charCodeAt(this.pos);
      if (code === Char.Space || code === Char.Tab || code === Char.FormFeed) {
        this.pos++;
      } else if (code === Char.Backslash) {
        const after = text.charCodeAt(this.pos + 1) === Char.Return ? this.pos + 2 : this.pos + 1;
        if (text.charCodeAt(after) !== Char.Newline) refuse('a backslash outside a string');
        this.pos = after + 1;
      } else if (code === Char.Hash) {
        const end = text.indexOf('\n', this.pos);
        this.pos = end < 0 ? text.length : end;
        this.lastEnd = this.pos;
      } else if (code === Char.Newline || code === Char.Return || this.pos >= text.length) {
        if (code === Char.Return && text.charCodeAt(this.pos + 1) !== Char.Newline) refuse('a carriage return alone');
        if (this.depth > 0) {
          if (this.pos >= text.length) refuse('an unclosed bracket');
          this.pos++;
          continue;
        }
        if (!this.lineHasTokens) {
          this.skipToFirstLine();
          if (this.pending.length) return this.pending.shift()!;
          continue;
        }
        return this.endLine();
      } else {
        this.lineHasTokens = true;
        return this.token(code);
      }
    }
  }

  /** Before the first statement: blank and comment lines, and no indentation. */
  private skipToFirstLine(): void {
    const line = this.nextLine(this.pos);
    if (line.indent !== 0 && line.at < this.text.length) refuse('an indented first line');
    this.pos = line.at;
    if (this.pos >= this.text.length) this.pending.push(this.make(Kind.End, this.pos, this.pos, ''));
    else this.lineHasTokens = true;
  }

  /** At the end of a logical line: NEWLINE, then INDENT or the DEDENTs the next line makes. */
  private endLine(): Token {
    const newline = this.make(Kind.Newline, this.lastEnd, this.lastEnd, '');
    const line = this.nextLine(this.pos);
    const indents = this.indents;
    if (line.indent > indents[indents.length - 1] && line.at < this.text.length) {
      indents.push(line.indent);
      this.pending.push(this.make(Kind.Indent, this.lastEnd, this.lastEnd, '', line.at));
      if (line.comments.length) this.lastEnd = line.comments[line.comments.length - 1].end;
    } else {
      for (const comment of line.comments) {
        while (line.indent < indents[indents.length - 1] && comment.indent < indents[indents.length - 1]) this.dedent();
        this.lastEnd = comment.end;
      }
      while (line.indent < indents[indents.length - 1]) this.dedent();
      if (line.indent !== indents[indents.length - 1]) refuse('an inconsistent dedent');
    }
    this.pos = line.at;
    if (line.at >= this.text.length) {
      this.pending.push(this.make(Kind.End, line.at, line.at, ''));
      this.lineHasTokens = false;
    }
    return newline;
  }

  private dedent(): void {
    this.indents.pop();
    this.pending.push(this.make(Kind.Dedent, this.lastEnd, this.lastEnd, '', this.lastEnd));
  }

  /**
   * From the end of a line: the comment lines and blank lines after it, and the indentation of the next
   * line with code (0 at the end of the text), counted as tree-sitter's scanner counts it.
   */
  private nextLine(from: number): { indent: number; at: number; comments: { indent: number; start: number; end: number }[] } {
    const text = this.text;
    const comments: { indent: number; start: number; end: number }[] = [];
    let at = from;
    let indent = 0;
    for (;;) {
      const code = text.charCodeAt(at);
      if (code === Char.Newline) { indent = 0; at++; }
      else if (code === Char.Space) { indent++; at++; }
      else if (code === Char.Tab) { indent += 8; at++; }
      else if (code === Char.Return || code === Char.FormFeed) {
        if (code === Char.Return && text.charCodeAt(at + 1) !== Char.Newline) refuse('a carriage return alone');
        indent = 0;
        at++;
      } else if (code === Char.Hash) {
        const end = text.indexOf('\n', at);
        const stop = end < 0 ? text.length : end;
        comments.push({ indent, start: at, end: stop });
        at = stop;
      } else if (code === Char.Backslash) {
        refuse('a line continuation between lines');
      } else {
        if (at >= text.length) indent = 0;
        return { indent, at, comments };
      }
    }
  }

  private token(code: number): Token {
    const text = this.text;
    const start = this.pos;
    if (isNameStart(code)) {
      let end = start + 1;
      while (end < text.length && isNameChar(text.charCodeAt(end))) end++;
      const next = text.charCodeAt(end);
      if ((next === Char.Quote || next === Char.Apostrophe) && end - start <= 2 && STRING_PREFIX.test(text.slice(start, end))) return this.stringStart(start, end + 1);
      return this.emit(Kind.Name, start, end);
    }
    if (code === Char.Quote || code === Char.Apostrophe) return this.stringStart(start, start + 1);
    if (isDigit(code) || (code === 46 && isDigit(text.charCodeAt(start + 1)))) {
      let end = start;
      while (isDigit(text.charCodeAt(end))) end++;
      // Most numbers are plain decimal integers; the rest take the full pattern.
      if (end > start && !NUMBER_CONTINUES.test(text[end] ?? '')) return this.emit(Kind.Number, start, end);
      NUMBER.lastIndex = start;
      const match = NUMBER.exec(text);
      if (!match) refuse('a malformed number');
      end = NUMBER.lastIndex;
      if (isNameChar(text.charCodeAt(end))) refuse('a malformed number');
      const token = this.emit(Kind.Number, start, end);
      token.at = match[1] !== undefined ? 1 : 0;
      return token;
    }
    const length = operatorLength(text, start);
    if (!length) return refuse(`an unexpected character ${JSON.stringify(text[start])}`);
    if (length === 1) {
      if (code === 40 || code === 91 || code === 123) this.depth++;
      else if (code === 41 || code === 93 || code === 125) this.depth--;
    }
    return this.emit(Kind.Op, start, start + length);
  }

  /** A string's prefix and opening quote(s); the parser reads the rest (content, interpolations). */
  private stringStart(start: number, quoteEnd: number): Token {
    const text = this.text;
    const quote = text[quoteEnd - 1];
    const end = text.startsWith(quote + quote, quoteEnd) ? quoteEnd + 2 : quoteEnd;
    return this.emit(Kind.StringStart, start, end);
  }

  /**
   * The token read from the text. Two objects take turns: the parser holds the current token and the one
   * it just consumed, never more, and a million tokens need not be a million objects.
   */
  private emit(kind: Kind, start: number, end: number): Token {
    this.pos = end;
    this.lastEnd = end;
    this.turn = !this.turn;
    const token = this.turn ? this.first : this.second;
    token.kind = kind;
    token.start = start;
    token.end = end;
    token.value = this.text.slice(start, end);
    token.at = 0;
    return token;
  }

  private make(kind: Kind, start: number, end: number, value: string, at = 0): Token {
    return { kind, start, end, value, at };
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}


// ---- the parser ----

const COMPARISON = new Set(['<', '<=', '==', '!=', '>=', '>', '<>', 'in', 'not', 'is']);
// tree-sitter-python's precedences (grammar.js PREC): `^` binds tighter than `&` there, unlike Python.
const BINARY_PRECEDENCE: Record<string, number> = {
  '|': 14, '&': 15, '^': 16, '<<': 17, '>>': 17, '+': 18, '-': 18, '*': 19, '@': 19, '/': 19, '%': 19, '//': 19, '**': 21,
};
const POWER_PRECEDENCE = 21;
const AUGMENTED = new Set(['+=', '-=', '*=', '/=', '@=', '//=', '%=', '**=', '>>=', '<<=', '&=', '^=', '|=']);
const KEYWORDS = new Set(['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue',
  'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda',
  'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield']);
/** Keywords tree-sitter also takes as identifiers. */
const SOFT_KEYWORDS = new Set(['print', 'exec', 'async', 'await', 'type', 'match']);
const PYTHON2_STATEMENTS = new Set(['print', 'exec']);
/** What may follow `*name...` in a collection or an expression list. */
const SPLAT_FOLLOWERS = new Set([',', ')', ']', '}', '=', ';']);
/** What follows a soft keyword used as a name at the start of a statement (an assignment, an attribute...). */
const NAME_USE = /^(?:$|[\r\n;#.,)]|=(?!=)|:(?!=)|[-+*/%&|^@]=|<<=|>>=|\*\*=|\/\/=)/;
const ESCAPE = /\\(?:u[a-fA-F\d]{4}|U[a-fA-F\d]{8}|x[a-fA-F\d]{2}|\d{1,3}|\r?\n|['"abfrntv\\]|N\{[^}]+\})/y;

type Kids = PyNode[];
type Fields = (string | undefined)[];

/** Parses `text` as a module; throws NotParsed for what tree-sitter must parse instead. */
export function parsePython(text: string): PyNode {
  if (text.charCodeAt(0) === 0xfeff) refuse('a byte order mark');
  try {
    return new Parser(text).module();
  } catch (err) {
    // Brackets nested thousands deep overflow this parser's recursion; tree-sitter's LR stack takes them.
    if (err instanceof RangeError) refuse('nesting deeper than the JavaScript stack');
    throw err;
  }
}

class Parser {
  private readonly source: SourceText;
  private readonly lexer: Lexer;
  private tok: Token;

  constructor(private readonly text: string) {
    this.source = new SourceText(text);
    this.lexer = new Lexer(text);
    this.tok = this.lexer.next();
  }

  // ---- helpers ----

  /** Whether the current token is of `kind` (a method: TypeScript would narrow a field read across calls). */
  private at(kind: Kind): boolean {
    return this.tok.kind === kind;
  }

  private advance(): Token {
    const current = this.tok;
    this.tok = this.lexer.next();
    return current;
  }

  private isOp(value: string): boolean {
    return this.at(Kind.Op) && this.tok.value === value;
  }

  private isKeyword(value: string): boolean {
    return this.at(Kind.Name) && this.tok.value === value;
  }

  /** The current token as an anonymous node, then the next token. */
  private anonymous(): PyNode {
    const token = this.advance();
    return new PyNode(this.source, token.value, false, token.start, token.end, NO_KIDS);
  }

  private expectOp(value: string): PyNode {
    if (!this.isOp(value)) refuse(`expected ${value}`);
    return this.anonymous();
  }

  private expectKeyword(value: string): PyNode {
    if (!this.isKeyword(value)) refuse(`expected ${value}`);
    return this.anonymous();
  }

  private leaf(type: string): PyNode {
    const token = this.advance();
    return new PyNode(this.source, type, true, token.start, token.end, NO_KIDS);
  }

  private node(type: string, kids: Kids, fields?: Fields, end?: number): PyNode {
    return new PyNode(this.source, type, true, kids[0].startIndex, end ?? kids[kids.length - 1].endIndex, kids, fields);
  }

  private identifier(): PyNode {
    if (!this.at(Kind.Name) || (KEYWORDS.has(this.tok.value) && !SOFT_KEYWORDS.has(this.tok.value))) refuse('expected a name');
    return this.leaf('identifier');
  }

  // ---- statements ----

  module(): PyNode {
    const kids: Kids = [];
    while (!this.at(Kind.End)) this.statement(kids);
    const start = this.text.search(/[^ \t\n\r\f]/);
    return new PyNode(this.source, 'module', true, start < 0 ? this.text.length : start, this.text.length, kids);
  }

  /** One line of simple statements or one compound statement, appended to `into`. */
  private statement(into: Kids): void {
    if (this.at(Kind.Name)) {
      switch (this.tok.value) {
        case 'if': into.push(this.ifStatement()); return;
        case 'for': into.push(this.forStatement([])); return;
        case 'while': into.push(this.whileStatement()); return;
        case 'try': into.push(this.tryStatement()); return;
        case 'with': into.push(this.withStatement([])); return;
        case 'def': into.push(this.functionDefinition([])); return;
        case 'class': into.push(this.classDefinition()); return;
        case 'async': {
          const asyncKeyword = this.anonymous();
          if (this.isKeyword('def')) into.push(this.functionDefinition([asyncKeyword]));
          else if (this.isKeyword('for')) into.push(this.forStatement([asyncKeyword]));
          else if (this.isKeyword('with')) into.push(this.withStatement([asyncKeyword]));
          else refuse('async before something else');
          return;
        }
        case 'match': case 'type': case 'print': case 'exec': this.refuseSoftKeywordStatement(); break;
      }
    } else if (this.isOp('@')) {
      into.push(this.decoratedDefinition());
      return;
    } else if (this.at(Kind.Indent) || this.at(Kind.Dedent)) {
      refuse('an unexpected indent');
    }
    this.simpleStatements(into);
  }

  /** `match x:`, `type X = ...` and Python 2's `print x` are statements tree-sitter parses its own way. */
  private refuseSoftKeywordStatement(): void {
    const rest = this.text.slice(this.tok.end, this.tok.end + 4).replace(/^[ \t]+/, '');
    if (NAME_USE.test(rest)) return;
    if ((this.tok.value === 'print' || this.tok.value === 'exec') && (rest.startsWith('(') || rest.startsWith('['))) return;
    refuse(`a ${this.tok.value} statement`);
  }

  private simpleStatements(into: Kids): void {
    for (;;) {
      into.push(this.simpleStatement());
      if (!this.isOp(';')) break;
      into.push(this.anonymous());
      if (this.at(Kind.Newline)) break;
    }
    if (!this.at(Kind.Newline)) refuse('expected the end of the line');
    this.advance();
  }

  private simpleStatement(): PyNode {
    if (this.at(Kind.Name)) {
      switch (this.tok.value) {
        case 'import': return this.importStatement();
        case 'from': return this.fromImport();
        case 'assert': return this.keywordWithExpressions('assert_statement');
        case 'return': return this.optionalExpressions('return_statement');
        case 'del': return this.keywordWithExpressionList('delete_statement');
        case 'raise': return this.raiseStatement();
        case 'pass': return this.node('pass_statement', [this.anonymous()]);
        case 'break': return this.node('break_statement', [this.anonymous()]);
        case 'continue': return this.node('continue_statement', [this.anonymous()]);
        case 'global': return this.namesStatement('global_statement');
        case 'nonlocal': return this.namesStatement('nonlocal_statement');
      }
    }
    return this.expressionStatement();
  }

  private importStatement(): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    this.importList(kids, fields, false);
    return this.node('import_statement', kids, fields);
  }

  private fromImport(): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    if (this.isKeyword('__future__')) {
      kids.push(this.anonymous());
      fields.push(undefined);
      kids.push(this.expectKeyword('import'));
      fields.push(undefined);
      this.importNames(kids, fields);
      return this.node('future_import_statement', kids, fields);
    }
    kids.push(this.moduleName());
    fields.push('module_name');
    kids.push(this.expectKeyword('import'));
    fields.push(undefined);
    if (this.isOp('*')) {
      const star = this.advance();
      kids.push(new PyNode(this.source, 'wildcard_import', true, star.start, star.end, [new PyNode(this.source, '*', false, star.start, star.end, NO_KIDS)]));
      fields.push(undefined);
    } else {
      this.importNames(kids, fields);
    }
    return this.node('import_from_statement', kids, fields);
  }

  private importNames(kids: Kids, fields: Fields): void {
    if (this.isOp('(')) {
      kids.push(this.anonymous());
      fields.push(undefined);
      this.importList(kids, fields, true);
      kids.push(this.expectOp(')'));
      fields.push(undefined);
    } else {
      this.importList(kids, fields, false);
    }
  }

  private importList(kids: Kids, fields: Fields, parenthesized: boolean): void {
    for (;;) {
      const name = this.dottedName();
      if (this.isKeyword('as')) {
        const as = this.anonymous();
        const alias = this.identifier();
        kids.push(this.node('aliased_import', [name, as, alias], ['name', undefined, 'alias']));
      } else {
        kids.push(name);
      }
      fields.push('name');
      if (!this.isOp(',')) return;
      kids.push(this.anonymous());
      fields.push(undefined);
      if (parenthesized && this.isOp(')')) return;
    }
  }

  private moduleName(): PyNode {
    if (!this.isOp('.') && !this.isOp('...')) return this.dottedName();
    const dots: Kids = [];
    while (this.isOp('.') || this.isOp('...')) {
      const token = this.advance();
      for (let at = token.start; at < token.end; at++) dots.push(new PyNode(this.source, '.', false, at, at + 1, NO_KIDS));
    }
    const kids: Kids = [this.node('import_prefix', dots)];
    if (!this.isKeyword('import')) kids.push(this.dottedName());
    return this.node('relative_import', kids);
  }

  private dottedName(): PyNode {
    const kids: Kids = [this.identifier()];
    while (this.isOp('.')) {
      kids.push(this.anonymous());
      kids.push(this.identifier());
    }
    return this.node('dotted_name', kids);
  }

  private keywordWithExpressions(type: string): PyNode {
    const kids: Kids = [this.anonymous()];
    for (;;) {
      kids.push(this.expression());
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
    }
    return this.node(type, kids);
  }

  private optionalExpressions(type: string): PyNode {
    const kids: Kids = [this.anonymous()];
    if (!this.at(Kind.Newline) && !this.isOp(';')) kids.push(this.expressions());
    return this.node(type, kids);
  }

  private keywordWithExpressionList(type: string): PyNode {
    const kids: Kids = [this.anonymous()];
    kids.push(this.expressions());
    return this.node(type, kids);
  }

  private raiseStatement(): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    if (!this.at(Kind.Newline) && !this.isOp(';') && !this.isKeyword('from')) {
      kids.push(this.expressions());
      fields.push(undefined);
    }
    if (this.isKeyword('from')) {
      kids.push(this.anonymous());
      fields.push(undefined);
      kids.push(this.expression());
      fields.push('cause');
    }
    return this.node('raise_statement', kids, fields);
  }

  private namesStatement(type: string): PyNode {
    const kids: Kids = [this.anonymous(), this.identifier()];
    while (this.isOp(',')) {
      kids.push(this.anonymous());
      kids.push(this.identifier());
    }
    return this.node(type, kids);
  }

  private expressionStatement(): PyNode {
    if (this.isKeyword('yield')) return this.node('expression_statement', [this.yieldExpression()]);
    const first = this.starExpressions(true);
    if (this.isOp('=') || this.isOp(':')) return this.node('expression_statement', [this.assignment(first)]);
    if (this.at(Kind.Op) && AUGMENTED.has(this.tok.value)) {
      const operator = this.anonymous();
      const right = this.rightHandSide();
      return this.node('expression_statement', [this.node('augmented_assignment', [this.pattern(first.node), operator, right], ['left', 'operator', 'right'])]);
    }
    return this.node('expression_statement', first.list ?? [first.node]);
  }

  /** `left = right`, `left: type`, `left: type = right`, chained as tree-sitter nests them. */
  private assignment(left: { node: PyNode; list?: Kids }): PyNode {
    const target = left.list ? this.patternList(left.list) : this.pattern(left.node);
    if (this.isOp(':')) {
      const colon = this.anonymous();
      const type = this.type();
      if (!this.isOp('=')) return this.node('assignment', [target, colon, type], ['left', undefined, 'type']);
      const equals = this.anonymous();
      return this.node('assignment', [target, colon, type, equals, this.rightHandSide()], ['left', undefined, 'type', undefined, 'right']);
    }
    const equals = this.expectOp('=');
    return this.node('assignment', [target, equals, this.rightHandSide()], ['left', undefined, 'right']);
  }

  private rightHandSide(): PyNode {
    if (this.isKeyword('yield')) return this.yieldExpression();
    const value = this.starExpressions();
    if (this.isOp('=')) return this.assignment(value);
    if (this.at(Kind.Op) && AUGMENTED.has(this.tok.value)) {
      const operator = this.anonymous();
      return this.node('augmented_assignment', [this.pattern(value.node), operator, this.rightHandSide()], ['left', 'operator', 'right']);
    }
    return value.list ? this.node('expression_list', value.list) : value.node;
  }

  /** Expressions separated by commas: one node, or the list of nodes and commas (an unwrapped tuple). */
  /** `atStatementStart`: the expressions begin an expression statement (they may be assigned to). */
  private starExpressions(atStatementStart = false): { node: PyNode; list?: Kids } {
    const first = this.starExpression('first');
    if (!this.isOp(',')) return { node: first };
    const list: Kids = [first];
    while (this.isOp(',')) {
      list.push(this.anonymous());
      if (!this.startsExpression()) break;
      list.push(this.starExpression(atStatementStart ? 'unsure' : 'first'));
    }
    return { node: first, list };
  }

  private starExpression(where: 'first' | 'unsure'): PyNode {
    return this.isOp('*') ? this.splat(where) : this.expression();
  }

  /**
   * `*x` in a list, tuple, set or expression list. tree-sitter reads `*name` as a primary expression (its
   * list_splat_pattern) that trailers then apply to, `attribute(list_splat(a), b)` for `*a.b`: in an
   * expression list (but after the first item of one that begins a statement), and as the only item in
   * brackets. Elsewhere it is `list_splat(attribute(a, b))`. `where`: 'first' (the primary reading),
   * 'opening' brackets (the closing one tells), 'later' in brackets, 'unsure' (refused with trailers).
   */
  private splat(where: 'first' | 'opening' | 'later' | 'unsure'): PyNode {
    const star = this.anonymous();
    if (where === 'later' || !this.at(Kind.Name) || KEYWORDS.has(this.tok.value)) return this.node('list_splat', [star, this.expression()]);
    const value = this.trailers(this.node('list_splat', [star, this.identifier()]));
    if (where === 'unsure' && value.type !== 'list_splat') refuse('a starred name with trailers after the first item of a statement');
    if (!(this.at(Kind.Op) && SPLAT_FOLLOWERS.has(this.tok.value)) && !this.at(Kind.Newline)) refuse('an operator after a starred name');
    if (where === 'opening' && this.isOp(',') && value.type !== 'list_splat') return this.node('list_splat', [star, this.withoutSplat(value)]);
    return value;
  }

  /** `attribute(list_splat(a), b)` as `attribute(a, b)`: the trailers' chain rebuilt on the name. */
  private withoutSplat(node: PyNode): PyNode {
    if (node.type === 'list_splat') return node.children[1];
    const first = this.withoutSplat(node.children[0]);
    return new PyNode(this.source, node.type, true, first.startIndex, node.endIndex, [first, ...node.children.slice(1)], node.children.map((_, i) => node.fieldOf(i)));
  }

  /** `_expressions`: an expression or an expression_list. */
  private expressions(): PyNode {
    const value = this.starExpressions();
    return value.list ? this.node('expression_list', value.list) : value.node;
  }

  private startsExpression(): boolean {
    const tok = this.tok;
    if (tok.kind === Kind.Name) return !KEYWORDS.has(tok.value) || ['not', 'lambda', 'await', 'None', 'True', 'False', 'yield'].includes(tok.value) || SOFT_KEYWORDS.has(tok.value);
    if (tok.kind === Kind.Number || tok.kind === Kind.StringStart) return true;
    return tok.kind === Kind.Op && ['(', '[', '{', '-', '+', '~', '*', '...', '**'].includes(tok.value);
  }

  /** An expression in a target position, as the pattern tree-sitter makes of it. */
  private pattern(node: PyNode): PyNode {
    switch (node.type) {
      case 'identifier': return node;
      case 'attribute': case 'subscript':
        if (node.children[0].type === 'list_splat') refuse('a starred target with a trailer');
        return node;
      case 'tuple': return this.retype(node, 'tuple_pattern');
      case 'list': return this.retype(node, 'list_pattern');
      case 'list_splat': {
        const inner = node.children[1];
        if (!['identifier', 'attribute', 'subscript'].includes(inner.type)) refuse('a starred target');
        return this.retype(node, 'list_splat_pattern', false);
      }
      default: return refuse(`a ${node.type} as a target`);
    }
  }

  private patternList(list: Kids): PyNode {
    return this.node('pattern_list', list.map(item => (item.isNamed ? this.pattern(item) : item)));
  }

  private retype(node: PyNode, type: string, inner = true): PyNode {
    const kids = inner ? node.children.map(child => (child.isNamed ? this.pattern(child) : child)) : node.children;
    return new PyNode(this.source, type, true, node.startIndex, node.endIndex, kids);
  }

  // ---- compound statements ----

  private ifStatement(): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    kids.push(this.expression(), this.expectOp(':'), this.suite());
    fields.push('condition', undefined, 'consequence');
    while (this.isKeyword('elif')) {
      const clause: Kids = [this.anonymous()];
      clause.push(this.expression(), this.expectOp(':'), this.suite());
      kids.push(this.node('elif_clause', clause, [undefined, 'condition', undefined, 'consequence']));
      fields.push('alternative');
    }
    this.elseClauseInto(kids, fields, 'alternative');
    return this.node('if_statement', kids, fields);
  }

  /** An `else:` clause if one comes, in `field` of the statement (`try` gives its clause no field). */
  private elseClauseInto(kids: Kids, fields: Fields, field: 'alternative' | undefined): void {
    if (!this.isKeyword('else')) return;
    kids.push(this.node('else_clause', [this.anonymous(), this.expectOp(':'), this.suite()], [undefined, undefined, 'body']));
    fields.push(field);
  }

  private forStatement(kids: Kids): PyNode {
    const fields: Fields = kids.map(() => undefined);
    kids.push(this.anonymous());
    fields.push(undefined);
    kids.push(this.targets());
    fields.push('left');
    kids.push(this.expectKeyword('in'));
    fields.push(undefined);
    kids.push(this.expressions());
    fields.push('right');
    kids.push(this.expectOp(':'), this.suite());
    fields.push(undefined, 'body');
    this.elseClauseInto(kids, fields, 'alternative');
    return this.node('for_statement', kids, fields);
  }

  /** The targets of `for ... in` (also in comprehensions): parsed below comparisons, which `in` is one of. */
  private targets(): PyNode {
    const first = this.target();
    if (!this.isOp(',')) return this.pattern(first);
    const list: Kids = [first];
    while (this.isOp(',')) {
      list.push(this.anonymous());
      if (this.isKeyword('in')) break;
      list.push(this.target());
    }
    return this.patternList(list);
  }

  private target(): PyNode {
    if (this.isOp('*')) {
      const star = this.anonymous();
      return this.node('list_splat', [star, this.binary(0)]);
    }
    return this.binary(0);
  }

  private whileStatement(): PyNode {
    const kids: Kids = [this.anonymous(), this.expression(), this.expectOp(':'), this.suite()];
    const fields: Fields = [undefined, 'condition', undefined, 'body'];
    this.elseClauseInto(kids, fields, 'alternative');
    return this.node('while_statement', kids, fields);
  }

  private tryStatement(): PyNode {
    const kids: Kids = [this.anonymous(), this.expectOp(':'), this.suite()];
    const fields: Fields = [undefined, undefined, 'body'];
    while (this.isKeyword('except')) {
      kids.push(this.exceptClause());
      fields.push(undefined);
    }
    this.elseClauseInto(kids, fields, undefined);
    if (this.isKeyword('finally')) {
      kids.push(this.node('finally_clause', [this.anonymous(), this.expectOp(':'), this.suite()]));
      fields.push(undefined);
    }
    if (kids.length === 3) refuse('try without except or finally');
    return this.node('try_statement', kids, fields);
  }

  private exceptClause(): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    if (this.isOp('*')) refuse('except*');
    if (!this.isOp(':')) {
      kids.push(this.withAlias(this.expression()));
      fields.push('value');
      if (this.isOp(',')) refuse('except A, B');
    }
    kids.push(this.expectOp(':'), this.suite());
    fields.push(undefined, undefined);
    return this.node('except_clause', kids, fields);
  }

  /** `value as target` (in `except` and `with`): tree-sitter's as_pattern. */
  private withAlias(value: PyNode): PyNode {
    if (!this.isKeyword('as')) return value;
    const as = this.anonymous();
    const alias = this.node('as_pattern_target', [this.expression()]);
    return this.node('as_pattern', [value, as, alias], [undefined, undefined, 'alias']);
  }

  private withStatement(kids: Kids): PyNode {
    const fields: Fields = kids.map(() => undefined);
    kids.push(this.anonymous());
    fields.push(undefined);
    const clause: Kids = [];
    if (this.isOp('(')) refuse('a parenthesized with');
    for (;;) {
      clause.push(this.node('with_item', [this.withAlias(this.expression())], ['value']));
      if (!this.isOp(',')) break;
      clause.push(this.anonymous());
    }
    kids.push(this.node('with_clause', clause), this.expectOp(':'), this.suite());
    fields.push(undefined, undefined, 'body');
    return this.node('with_statement', kids, fields);
  }

  private functionDefinition(kids: Kids): PyNode {
    const fields: Fields = kids.map(() => undefined);
    kids.push(this.anonymous(), this.identifier());
    fields.push(undefined, 'name');
    if (this.isOp('[')) refuse('type parameters');
    kids.push(this.parameters());
    fields.push('parameters');
    if (this.isOp('->')) {
      kids.push(this.anonymous(), this.type());
      fields.push(undefined, 'return_type');
    }
    kids.push(this.expectOp(':'), this.suite());
    fields.push(undefined, 'body');
    return this.node('function_definition', kids, fields);
  }

  private parameters(): PyNode {
    const kids: Kids = [this.expectOp('(')];
    this.parameterList(kids, ')', true);
    kids.push(this.expectOp(')'));
    return this.node('parameters', kids);
  }

  /** `_parameters` up to `close`; `typed` for a def's (a lambda's parameters take no annotations). */
  private parameterList(kids: Kids, close: string, typed: boolean): void {
    while (!this.isOp(close)) {
      kids.push(this.parameter(typed));
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
    }
  }

  private parameter(typed: boolean): PyNode {
    if (this.isOp('/')) return this.node('positional_separator', [this.anonymous()]);
    let name: PyNode;
    if (this.isOp('*') || this.isOp('**')) {
      const star = this.anonymous();
      if (star.type === '*' && (this.isOp(',') || this.isOp(')') || this.isOp(':'))) {
        if (this.isOp(':') && typed) refuse('a bare * with a type');
        return this.node('keyword_separator', [star]);
      }
      name = this.node(star.type === '*' ? 'list_splat_pattern' : 'dictionary_splat_pattern', [star, this.identifier()]);
    } else {
      if (this.isOp('(')) refuse('a tuple parameter');
      name = this.identifier();
    }
    const plain = name.type === 'identifier';
    if (typed && this.isOp(':')) {
      const colon = this.anonymous();
      const type = this.type();
      if (this.isOp('=') && plain) {
        const equals = this.anonymous();
        return this.node('typed_default_parameter', [name, colon, type, equals, this.expression()], ['name', undefined, 'type', undefined, 'value']);
      }
      return this.node('typed_parameter', [name, colon, type], [undefined, undefined, 'type']);
    }
    if (this.isOp('=') && plain) {
      const equals = this.anonymous();
      return this.node('default_parameter', [name, equals, this.expression()], ['name', undefined, 'value']);
    }
    return name;
  }

  /** A type annotation: tree-sitter's `type` node, with `Name[...]` as a generic_type. */
  private type(): PyNode {
    if (this.isOp('*') || this.isOp('**')) refuse('a splat type');
    if (this.at(Kind.Name) && !KEYWORDS.has(this.tok.value) && this.text.charCodeAt(this.tok.end) === 91 /* [ */) {
      const mark = this.tok;
      const name = this.identifier();
      if (!this.isOp('[')) refuse(`a generic type after ${mark.value}`);
      const generic = this.node('generic_type', [name, this.typeParameter()]);
      if (this.isOp('|')) return this.node('type', [this.unionType(this.node('type', [generic]))]);
      if (this.at(Kind.Op) && (this.tok.value in BINARY_PRECEDENCE || this.tok.value === '.' || this.tok.value === '(' || this.tok.value === '[' || COMPARISON.has(this.tok.value))) {
        refuse('an expression after a generic type');
      }
      if (this.isKeyword('if') || this.isKeyword('or') || this.isKeyword('and') || this.isKeyword('not') || this.isKeyword('in') || this.isKeyword('is')) refuse('an expression after a generic type');
      return this.node('type', [generic]);
    }
    return this.node('type', [this.expression()]);
  }

  /** `Name[...] | other`: tree-sitter's union_type (one `|`; a chain of them it parses another way). */
  private unionType(left: PyNode): PyNode {
    const bar = this.anonymous();
    const start = this.tok;
    const generic = start.kind === Kind.Name && !KEYWORDS.has(start.value) && this.text.charCodeAt(start.end) === 91;
    const right = generic ? this.node('generic_type', [this.identifier(), this.typeParameter()]) : this.expression();
    if (right.type === 'binary_operator' || this.isOp('|') || this.isOp('.') || this.isOp('[') || this.isOp('(')) refuse('a union of more than two types');
    return this.node('union_type', [left, bar, this.node('type', [right])]);
  }

  private typeParameter(): PyNode {
    const kids: Kids = [this.expectOp('[')];
    for (;;) {
      kids.push(this.type());
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
      if (this.isOp(']')) break;
    }
    kids.push(this.expectOp(']'));
    return this.node('type_parameter', kids);
  }

  private classDefinition(): PyNode {
    const kids: Kids = [this.anonymous(), this.identifier()];
    const fields: Fields = [undefined, 'name'];
    if (this.isOp('[')) refuse('type parameters');
    if (this.isOp('(')) {
      kids.push(this.callArguments());
      fields.push('superclasses');
    }
    kids.push(this.expectOp(':'), this.suite());
    fields.push(undefined, 'body');
    return this.node('class_definition', kids, fields);
  }

  private decoratedDefinition(): PyNode {
    const kids: Kids = [];
    const fields: Fields = [];
    while (this.isOp('@')) {
      const at = this.anonymous();
      const expression = this.expression();
      if (!this.at(Kind.Newline)) refuse('expected the end of a decorator');
      kids.push(this.node('decorator', [at, expression], undefined, this.advance().end));
      fields.push(undefined);
    }
    let definition: PyNode;
    if (this.isKeyword('def')) definition = this.functionDefinition([]);
    else if (this.isKeyword('class')) definition = this.classDefinition();
    else if (this.isKeyword('async')) {
      const asyncKeyword = this.anonymous();
      if (!this.isKeyword('def')) refuse('expected def after async');
      definition = this.functionDefinition([asyncKeyword]);
    } else return refuse('a decorator without a definition');
    kids.push(definition);
    fields.push('definition');
    return this.node('decorated_definition', kids, fields);
  }

  /** A block: the simple statements after the colon, or an indented block up to its dedent. */
  private suite(): PyNode {
    if (!this.at(Kind.Newline)) {
      const kids: Kids = [];
      for (;;) {
        kids.push(this.simpleStatement());
        if (!this.isOp(';')) break;
        kids.push(this.anonymous());
        if (this.at(Kind.Newline)) break;
      }
      if (!this.at(Kind.Newline)) refuse('expected the end of the line');
      return new PyNode(this.source, 'block', true, kids[0].startIndex, this.advance().end, kids);
    }
    this.advance();
    if (!this.at(Kind.Indent)) refuse('expected an indented block');
    const blockStart = this.advance().at;
    const kids: Kids = [];
    while (!this.at(Kind.Dedent)) {
      if (this.at(Kind.End)) refuse('an unclosed block');
      this.statement(kids);
    }
    const end = this.advance().at;
    return new PyNode(this.source, 'block', true, blockStart, end, kids);
  }

  // ---- expressions ----

  private expression(): PyNode {
    if (this.isKeyword('lambda')) return this.lambda(false);
    const value = this.disjunction();
    if (this.isKeyword('if')) {
      const ifKeyword = this.anonymous();
      const condition = this.disjunction();
      const elseKeyword = this.expectKeyword('else');
      return this.node('conditional_expression', [value, ifKeyword, condition, elseKeyword, this.expression()]);
    }
    return this.isOp(':=') ? this.nameBinding('named_expression', value) : value;
  }

  private lambda(withinForIn: boolean): PyNode {
    const kids: Kids = [this.anonymous()];
    const fields: Fields = [undefined];
    if (!this.isOp(':')) {
      const parameters: Kids = [];
      this.parameterList(parameters, ':', false);
      kids.push(this.node('lambda_parameters', parameters));
      fields.push('parameters');
    }
    kids.push(this.expectOp(':'));
    fields.push(undefined);
    kids.push(withinForIn ? (this.isKeyword('lambda') ? this.lambda(true) : this.disjunction()) : this.expression());
    fields.push('body');
    return this.node('lambda', kids, fields);
  }

  private disjunction(): PyNode {
    return this.booleanOperators('or');
  }

  /** `or` over `and` over `not`, each a left-associative boolean_operator. */
  private booleanOperators(keyword: 'or' | 'and'): PyNode {
    const operand = () => (keyword === 'or' ? this.booleanOperators('and') : this.inversion());
    let left = operand();
    while (this.isKeyword(keyword)) {
      const operator = this.anonymous();
      left = this.node('boolean_operator', [left, operator, operand()], ['left', 'operator', 'right']);
    }
    return left;
  }

  private inversion(): PyNode {
    if (this.isKeyword('not')) {
      const not = this.anonymous();
      return this.node('not_operator', [not, this.inversion()], [undefined, 'argument']);
    }
    return this.comparison();
  }

  private comparison(): PyNode {
    const first = this.binary(0);
    if (!this.isComparisonOperator()) return first;
    const kids: Kids = [first];
    const fields: Fields = [undefined];
    while (this.isComparisonOperator()) {
      kids.push(this.comparisonOperator());
      fields.push('operators');
      kids.push(this.binary(0));
      fields.push(undefined);
    }
    return this.node('comparison_operator', kids, fields);
  }

  private isComparisonOperator(): boolean {
    const tok = this.tok;
    if (tok.kind === Kind.Op) return tok.value !== 'in' && tok.value !== 'not' && tok.value !== 'is' && COMPARISON.has(tok.value);
    return tok.kind === Kind.Name && (tok.value === 'in' || tok.value === 'is' || (tok.value === 'not' && /^\s+in\b/.test(this.text.slice(tok.end, tok.end + 40))));
  }

  private comparisonOperator(): PyNode {
    const first = this.anonymous();
    if (first.type === 'not' || (first.type === 'is' && this.isKeyword('not'))) {
      const second = this.anonymous();
      return new PyNode(this.source, `${first.type} ${second.type}`, false, first.startIndex, second.endIndex, [first, second]);
    }
    if (first.type === '<>') refuse('<>');
    return first;
  }

  /** Binary operators at or above `minimum` precedence, over unary operators and primaries. */
  private binary(minimum: number): PyNode {
    let left = this.unary();
    for (;;) {
      const tok = this.tok;
      const precedence = tok.kind === Kind.Op ? BINARY_PRECEDENCE[tok.value] : undefined;
      if (precedence === undefined || precedence < minimum) return left;
      const operator = this.anonymous();
      const right = this.binary(precedence === POWER_PRECEDENCE ? precedence : precedence + 1);
      left = this.node('binary_operator', [left, operator, right], ['left', 'operator', 'right']);
    }
  }

  private unary(): PyNode {
    const tok = this.tok;
    if (tok.kind === Kind.Op && (tok.value === '-' || tok.value === '+' || tok.value === '~')) {
      const operator = this.anonymous();
      return this.node('unary_operator', [operator, this.binary(POWER_PRECEDENCE)], ['operator', 'argument']);
    }
    if (tok.kind === Kind.Name && tok.value === 'await' && !NAME_USE.test(this.text.slice(tok.end, tok.end + 4).replace(/^[ \t]+/, ''))) {
      const keyword = this.anonymous();
      return this.node('await', [keyword, this.binary(POWER_PRECEDENCE)]);
    }
    return this.primary();
  }

  private primary(): PyNode {
    return this.trailers(this.atom());
  }

  /** `.name`, `(arguments)` and `[subscript]` after a primary expression. */
  private trailers(primary: PyNode): PyNode {
    let value = primary;
    for (;;) {
      if (this.isOp('.')) {
        const dot = this.anonymous();
        value = this.node('attribute', [value, dot, this.identifier()], ['object', undefined, 'attribute']);
      } else if (this.isOp('(')) {
        value = this.node('call', [value, this.callArguments(value.type === 'identifier' && PYTHON2_STATEMENTS.has(value.text))], ['function', 'arguments']);
      } else if (this.isOp('[')) {
        value = this.subscript(value);
      } else {
        return value;
      }
    }
  }

  private atom(): PyNode {
    const tok = this.tok;
    switch (tok.kind) {
      case Kind.Name:
        switch (tok.value) {
          case 'True': return this.leaf('true');
          case 'False': return this.leaf('false');
          case 'None': return this.leaf('none');
        }
        return this.identifier();
      case Kind.Number: return this.leaf(tok.at ? 'float' : 'integer');
      case Kind.StringStart: return this.strings();
      case Kind.Op:
        switch (tok.value) {
          case '(': return this.parenthesized();
          case '[': return this.bracketed();
          case '{': return this.braced();
          case '...': return this.leaf('ellipsis');
        }
    }
    return refuse(`an unexpected ${tok.value || 'token'}`);
  }

  private yieldExpression(): PyNode {
    const kids: Kids = [this.anonymous()];
    if (this.isKeyword('from')) {
      kids.push(this.anonymous(), this.expression());
    } else if (this.startsExpression() && !this.isOp('**')) {
      kids.push(this.expressions());
    }
    return this.node('yield', kids);
  }

  private parenthesized(): PyNode {
    const open = this.anonymous();
    if (this.isOp(')')) return this.node('tuple', [open, this.anonymous()]);
    if (this.isKeyword('yield')) {
      const value = this.yieldExpression();
      return this.node('parenthesized_expression', [open, value, this.expectOp(')')]);
    }
    const first = this.collectionElement(true);
    if (this.isKeyword('for') || this.isKeyword('async')) {
      if (first.type === 'list_splat') refuse('a starred comprehension');
      return this.comprehension('generator_expression', open, first, ')');
    }
    if (this.isOp(')')) {
      if (first.type === 'list_splat') refuse('a parenthesized starred expression');
      return this.node('parenthesized_expression', [open, first, this.anonymous()]);
    }
    const kids: Kids = [open, first];
    this.moreElements(kids, ')');
    return this.node('tuple', kids);
  }

  private bracketed(): PyNode {
    const open = this.anonymous();
    if (this.isOp(']')) return this.node('list', [open, this.anonymous()]);
    const first = this.collectionElement(true);
    if (this.isKeyword('for') || this.isKeyword('async')) {
      if (first.type === 'list_splat') refuse('a starred comprehension');
      return this.comprehension('list_comprehension', open, first, ']');
    }
    const kids: Kids = [open, first];
    this.moreElements(kids, ']');
    return this.node('list', kids);
  }

  private braced(): PyNode {
    const open = this.anonymous();
    if (this.isOp('}')) return this.node('dictionary', [open, this.anonymous()]);
    if (this.isOp('**')) return this.dictionary(open);
    const first = this.collectionElement(true);
    if (this.isOp(':')) {
      if (first.type === 'list_splat' || first.type === 'yield') refuse('a starred key');
      const colon = this.anonymous();
      const pair = this.node('pair', [first, colon, this.expression()], ['key', undefined, 'value']);
      if (this.isKeyword('for') || this.isKeyword('async')) return this.comprehension('dictionary_comprehension', open, pair, '}');
      return this.dictionary(open, pair);
    }
    if (this.isKeyword('for') || this.isKeyword('async')) {
      if (first.type === 'list_splat') refuse('a starred comprehension');
      return this.comprehension('set_comprehension', open, first, '}');
    }
    const kids: Kids = [open, first];
    this.moreElements(kids, '}');
    return this.node('set', kids);
  }

  private dictionary(open: PyNode, first?: PyNode): PyNode {
    const kids: Kids = [open];
    let entry = first;
    for (;;) {
      if (!entry) {
        if (this.isOp('**')) {
          const stars = this.anonymous();
          entry = this.node('dictionary_splat', [stars, this.expression()]);
        } else {
          const key = this.expression();
          const colon = this.expectOp(':');
          entry = this.node('pair', [key, colon, this.expression()], ['key', undefined, 'value']);
        }
      }
      kids.push(entry);
      entry = undefined;
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
      if (this.isOp('}')) break;
    }
    kids.push(this.expectOp('}'));
    return this.node('dictionary', kids);
  }

  /** An element of a list, tuple or set: an expression, a yield, or `*expression`. */
  private collectionElement(first: boolean): PyNode {
    if (this.isOp('*')) return this.splat(first ? 'opening' : 'later');
    if (this.isKeyword('yield')) return this.yieldExpression();
    return this.expression();
  }

  private moreElements(kids: Kids, close: string): void {
    while (this.isOp(',')) {
      kids.push(this.anonymous());
      if (this.isOp(close)) break;
      kids.push(this.collectionElement(false));
    }
    kids.push(this.expectOp(close));
  }

  private comprehension(type: string, open: PyNode, body: PyNode, close: string): PyNode {
    const kids: Kids = [open, body];
    const fields: Fields = [undefined, 'body'];
    while (this.isKeyword('for') || this.isKeyword('async') || this.isKeyword('if')) {
      kids.push(this.isKeyword('if') ? this.node('if_clause', [this.anonymous(), this.disjunction()]) : this.forInClause());
      fields.push(undefined);
    }
    kids.push(this.expectOp(close));
    fields.push(undefined);
    return this.node(type, kids, fields);
  }

  private forInClause(): PyNode {
    const kids: Kids = [];
    const fields: Fields = [];
    if (this.isKeyword('async')) {
      kids.push(this.anonymous());
      fields.push(undefined);
    }
    kids.push(this.expectKeyword('for'), this.targets(), this.expectKeyword('in'));
    fields.push(undefined, 'left', undefined);
    for (;;) {
      kids.push(this.isKeyword('lambda') ? this.lambda(true) : this.disjunction());
      fields.push('right');
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
      fields.push(undefined);
      if (!this.startsExpression()) break;
    }
    return this.node('for_in_clause', kids, fields);
  }

  /**
   * `(...)` after a callee. `printLike`: the callee is `print` or `exec`, where tree-sitter also tries
   * Python 2's statement and, with a starred argument, makes a different tree.
   */
  private callArguments(printLike = false): PyNode {
    const open = this.anonymous();
    if (this.isOp(')')) return this.node('argument_list', [open, this.anonymous()]);
    const first = this.argument(printLike);
    if ((this.isKeyword('for') || this.isKeyword('async')) && first.type !== 'keyword_argument' && first.type !== 'list_splat' && first.type !== 'dictionary_splat') {
      return this.comprehension('generator_expression', open, first, ')');
    }
    const kids: Kids = [open, first];
    while (this.isOp(',')) {
      kids.push(this.anonymous());
      if (this.isOp(')')) break;
      kids.push(this.argument(printLike));
    }
    kids.push(this.expectOp(')'));
    return this.node('argument_list', kids);
  }

  private argument(printLike: boolean): PyNode {
    if (this.isOp('*') || this.isOp('**')) {
      if (printLike) refuse('a starred argument of print or exec');
      const star = this.anonymous();
      return this.node(star.type === '*' ? 'list_splat' : 'dictionary_splat', [star, this.expression()]);
    }
    const value = this.expression();
    return this.isOp('=') ? this.nameBinding('keyword_argument', value) : value;
  }

  /** `name := value` or `name=value` (the current token is the operator): name and value fields. */
  private nameBinding(type: 'named_expression' | 'keyword_argument', name: PyNode): PyNode {
    if (name.type !== 'identifier') refuse(`a ${type} whose name is a ${name.type}`);
    const operator = this.anonymous();
    return this.node(type, [name, operator, this.expression()], ['name', undefined, 'value']);
  }

  private subscript(value: PyNode): PyNode {
    const kids: Kids = [value, this.anonymous()];
    const fields: Fields = ['value', undefined];
    for (;;) {
      kids.push(this.subscriptItem());
      fields.push('subscript');
      if (!this.isOp(',')) break;
      kids.push(this.anonymous());
      fields.push(undefined);
      if (this.isOp(']')) break;
    }
    kids.push(this.expectOp(']'));
    fields.push(undefined);
    return this.node('subscript', kids, fields);
  }

  private subscriptItem(): PyNode {
    const kids: Kids = [];
    if (!this.isOp(':')) {
      if (this.isOp('*')) refuse('a starred subscript');
      const value = this.expression();
      if (!this.isOp(':')) return value;
      kids.push(value);
    }
    kids.push(this.anonymous());
    if (!this.isOp(':') && !this.isOp(',') && !this.isOp(']')) kids.push(this.expression());
    if (this.isOp(':')) {
      kids.push(this.anonymous());
      if (!this.isOp(',') && !this.isOp(']')) kids.push(this.expression());
    }
    return this.node('slice', kids);
  }

  // ---- strings ----

  private strings(): PyNode {
    const first = this.string();
    if (!this.at(Kind.StringStart)) return first;
    const kids: Kids = [first];
    while (this.at(Kind.StringStart)) kids.push(this.string());
    return this.node('concatenated_string', kids);
  }

  /**
   * One string: string_start, string_content (with its escape sequences), interpolations and
   * string_end, as tree-sitter's scanner splits them. The lexer's position is moved past the string.
   */
  private string(): PyNode {
    const start = this.tok;
    const text = this.text;
    const prefix = start.value.replace(/['"]+$/, '').toLowerCase();
    const quote = start.value[start.value.length - 1];
    const triple = start.value.endsWith(quote.repeat(3));
    const raw = prefix.includes('r');
    const bytes = prefix.includes('b');
    const format = prefix.includes('f') || prefix.includes('t');
    if (prefix.length > 2 || (bytes && format) || (prefix.includes('u') && prefix.length > 1)) refuse('a string prefix');
    const kids: Kids = [new PyNode(this.source, 'string_start', true, start.start, start.end, NO_KIDS)];
    const lexer = this.lexer;
    let at = start.end;
    let contentStart = -1;
    // In a raw string, tree-sitter's scanner steps over `\\` and `\'` without counting them as content: a
    // body of nothing else is no string_content, and string_end starts where the body does.
    let rawPairsOnly = false;
    let escapes: Kids = [];
    const endContent = (end: number) => {
      if (contentStart >= 0 && end > contentStart && !rawPairsOnly) kids.push(new PyNode(this.source, 'string_content', true, contentStart, end, escapes));
      contentStart = -1;
      escapes = [];
    };
    for (;;) {
      if (at >= text.length) refuse('an unterminated string');
      const ch = text[at];
      if (ch === quote && (!triple || text.startsWith(quote.repeat(3), at))) {
        const endStart = rawPairsOnly ? contentStart : at;
        endContent(at);
        const end = at + (triple ? 3 : 1);
        kids.push(new PyNode(this.source, 'string_end', true, endStart, end, NO_KIDS));
        lexer.pos = end;
        lexer.lastEnd = end;
        break;
      }
      if (ch === '\n' && !triple) refuse('a newline in a string');
      if (contentStart < 0) {
        contentStart = at;
        rawPairsOnly = raw && ch === '\\';
      } else if (ch !== '\\') {
        // Before a replacement field, tree-sitter's lexer reads those backslashes as escapes after all.
        if (rawPairsOnly && format && (ch === '{' || ch === '}')) refuse('backslashes before a field of a raw f-string');
        rawPairsOnly = false;
      }
      if (ch === '\\') {
        if (raw) {
          at++;
          if (text[at] === quote || text[at] === '\\') at++;
          if (text[at] === '\r') at++;
          if (text[at] === '\n') at++;
          continue;
        }
        if (bytes && /[NuU]/.test(text[at + 1])) {
          at += 2;
          continue;
        }
        ESCAPE.lastIndex = at;
        if (ESCAPE.test(text)) {
          escapes.push(new PyNode(this.source, 'escape_sequence', true, at, ESCAPE.lastIndex, NO_KIDS));
          at = ESCAPE.lastIndex;
        } else {
          // tree-sitter's `_not_escape_sequence`, a token it keeps as an anonymous child.
          escapes.push(new PyNode(this.source, '\\', false, at, at + 1, NO_KIDS));
          at++;
        }
        continue;
      }
      if (format && (ch === '{' || ch === '}')) {
        if (text[at + 1] === ch) {
          escapes.push(new PyNode(this.source, 'escape_interpolation', true, at, at + 2, NO_KIDS));
          at += 2;
          continue;
        }
        if (ch === '}') refuse('a lone } in an f-string');
        endContent(at);
        const interpolation = this.interpolation(at, 'interpolation');
        kids.push(interpolation);
        at = interpolation.endIndex;
        continue;
      }
      at++;
    }
    this.tok = lexer.next();
    return this.node('string', kids);
  }

  /** `{expression[=][!conversion][:format]}` starting at `open`; returns with the lexer past its `}`. */
  private interpolation(open: number, type: string): PyNode {
    const lexer = this.lexer;
    lexer.pos = open + 1;
    lexer.depth++;
    const kids: Kids = [new PyNode(this.source, '{', false, open, open + 1, NO_KIDS)];
    const fields: Fields = [undefined];
    this.tok = lexer.next();
    if (this.isKeyword('yield')) kids.push(this.yieldExpression());
    else kids.push(this.expressions());
    fields.push('expression');
    if (this.isOp('=')) {
      kids.push(this.anonymous());
      fields.push(undefined);
    }
    if (this.isOp('!') && /^[a-z]/.test(this.text[this.tok.end])) {
      kids.push(new PyNode(this.source, 'type_conversion', true, this.tok.start, this.tok.end + 1, NO_KIDS));
      fields.push('type_conversion');
      lexer.pos = this.tok.end + 1;
      this.tok = lexer.next();
    }
    if (this.isOp(':')) {
      kids.push(this.formatSpecifier(this.tok.start));
      fields.push('format_specifier');
    }
    if (!this.isOp('}')) refuse('an unclosed interpolation');
    const close = this.tok;
    kids.push(new PyNode(this.source, '}', false, close.start, close.end, NO_KIDS));
    fields.push(undefined);
    lexer.pos = close.end;
    return this.node(type, kids, fields);
  }

  /** `:spec` up to the interpolation's `}`, with nested `{...}` as format_expression; leaves `}` as the token. */
  private formatSpecifier(colon: number): PyNode {
    const text = this.text;
    const kids: Kids = [new PyNode(this.source, ':', false, colon, colon + 1, NO_KIDS)];
    let at = colon + 1;
    for (;;) {
      const ch = text[at];
      if (ch === undefined || ch === '\n') refuse('an unclosed format specifier');
      if (ch === '{') {
        const nested = this.interpolation(at, 'format_expression');
        kids.push(nested);
        at = nested.endIndex;
        continue;
      }
      if (ch === '}') break;
      at++;
    }
    const lexer = this.lexer;
    lexer.pos = at;
    this.tok = lexer.next();
    return new PyNode(this.source, 'format_specifier', true, colon, at, kids);
  }
}
