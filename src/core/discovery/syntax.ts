// Syntax nodes as discovery reads them: the part of web-tree-sitter's Node API that collect.ts and scope.ts
// use, at a fraction of its cost. web-tree-sitter moves every node in and out of the wasm heap through
// Emscripten's generic setValue/getValue (a string switch per 32-bit word) and allocates a fresh Node on
// every visit; over thousands of files that cost more than parsing them. These nodes call the same C
// functions of web-tree-sitter's binding (lib/tree-sitter.c in its package) with the same transfer-buffer
// layout, but write and read the buffer as 32-bit words and cache what they read. That layout is private
// to web-tree-sitter, so package.json pins its version and discovery-syntax.test.ts compares these nodes
// with the public API's, node for node.
import os from 'node:os';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');

export interface Point { row: number; column: number }

/**
 * A node of a parsed Python tree, as discovery reads it: tree-sitter-python's node types, fields and
 * ranges. Indices and columns count UTF-16 code units, as in the parsed JS string. Two parsers make them:
 * pyparse.ts (plain objects, no comment nodes) and tree-sitter through SyntaxReader.
 */
export interface SyntaxNode {
  /** Unique among the nodes of one tree. */
  readonly id: number;
  readonly type: string;
  readonly isNamed: boolean;
  readonly startIndex: number;
  readonly endIndex: number;
  readonly startPosition: Point;
  readonly endPosition: Point;
  readonly text: string;
  /** The whole parsed text. */
  readonly tree: { readonly text: string };
  readonly children: readonly SyntaxNode[];
  readonly namedChildren: readonly SyntaxNode[];
  /** Whether the node or anything below it is a syntax error (an ERROR node or a MISSING token). */
  readonly hasError: boolean;
  /** A token the parser inserted to recover (an unclosed bracket's `)`). */
  readonly isMissing: boolean;
  childForFieldName(name: string): SyntaxNode | null;
  childrenForFieldName(name: string): readonly SyntaxNode[];
}

/**
 * The Emscripten module web-tree-sitter runs on. Emscripten fills the options object given to Parser.init
 * with the module's exports, so that object is the module once init resolves.
 */
export interface WasmModule {
  HEAPU32: Uint32Array;
  _free(pointer: number): void;
  _ts_init(): number;
  _ts_tree_root_node_wasm(tree: number): void;
  _ts_node_symbol_wasm(tree: number): number;
  _ts_node_is_named_wasm(tree: number): number;
  _ts_node_end_index_wasm(tree: number): number;
  _ts_node_end_point_wasm(tree: number): void;
  _ts_node_children_wasm(tree: number): void;
  _ts_node_named_children_wasm(tree: number): void;
  _ts_node_child_by_field_id_wasm(tree: number, field: number): void;
  _ts_node_children_by_field_id_wasm(tree: number, field: number): void;
  _ts_node_has_error_wasm(tree: number): number;
  _ts_node_is_missing_wasm(tree: number): number;
}

const REQUIRED_EXPORTS = ['_free', '_ts_init', '_ts_tree_root_node_wasm', '_ts_node_symbol_wasm', '_ts_node_is_named_wasm',
  '_ts_node_end_index_wasm', '_ts_node_end_point_wasm', '_ts_node_children_wasm', '_ts_node_named_children_wasm',
  '_ts_node_child_by_field_id_wasm', '_ts_node_children_by_field_id_wasm', '_ts_node_has_error_wasm', '_ts_node_is_missing_wasm'] as const;

/** Words per node in the transfer buffer: id, start index, start row, start column, alias context. */
const NODE_WORDS = 5;

/** Reads the trees of one language through web-tree-sitter's wasm module (one per process). */
export class SyntaxReader {
  /** The transfer buffer's first word, as an index into HEAPU32. */
  private readonly transfer: number;
  private readonly fieldIds = new Map<string, number>();

  constructor(private readonly wasm: WasmModule, private readonly language: TreeSitter.Language) {
    const missing = REQUIRED_EXPORTS.filter(name => typeof wasm[name] !== 'function');
    if (missing.length || !(wasm.HEAPU32 instanceof Uint32Array)) {
      throw new Error(`web-tree-sitter's wasm binding lacks ${missing.join(', ') || 'HEAPU32'}: discovery needs the version package.json pins`);
    }
    // HEAPU32 reads wasm's little-endian memory in host order. A DataView would not care, but its calls
    // cost several times more in unoptimized code, which is where most of a cold discovery runs.
    if (os.endianness() !== 'LE') throw new Error('discovery needs a little-endian host');
    this.transfer = wasm._ts_init() >>> 2;
    language.fields.forEach((name, id) => { if (name && id > 0) this.fieldIds.set(name, id); });
  }

  /** The root of a tree parsed from `text`; its nodes are valid until the tree is deleted. */
  root(tree: TreeSitter.Tree, text: string): SyntaxNode {
    // A Tree's slot 0 is its C pointer (private to web-tree-sitter, like the rest of this binding).
    const context: TreeContext = { reader: this, pointer: (tree as unknown as Record<0, number>)[0], text };
    this.wasm._ts_tree_root_node_wasm(context.pointer);
    return this.readNode(context, this.transfer)!;
  }

  typeOf(node: TreeSitterNode): string {
    return this.language.types[this.wasm._ts_node_symbol_wasm(this.store(node))] || 'ERROR';
  }

  isNamed(node: TreeSitterNode): boolean {
    return this.wasm._ts_node_is_named_wasm(this.store(node)) === 1;
  }

  endIndex(node: TreeSitterNode): number {
    return this.wasm._ts_node_end_index_wasm(this.store(node));
  }

  hasError(node: TreeSitterNode): boolean {
    return this.wasm._ts_node_has_error_wasm(this.store(node)) === 1;
  }

  isMissing(node: TreeSitterNode): boolean {
    return this.wasm._ts_node_is_missing_wasm(this.store(node)) === 1;
  }

  endPosition(node: TreeSitterNode): Point {
    this.wasm._ts_node_end_point_wasm(this.store(node));
    const heap = this.wasm.HEAPU32;
    return { row: heap[this.transfer], column: heap[this.transfer + 1] };
  }

  children(node: TreeSitterNode): TreeSitterNode[] {
    this.wasm._ts_node_children_wasm(this.store(node));
    return this.readNodeList(node.tree);
  }

  namedChildren(node: TreeSitterNode): TreeSitterNode[] {
    this.wasm._ts_node_named_children_wasm(this.store(node));
    return this.readNodeList(node.tree);
  }

  childForField(node: TreeSitterNode, name: string): TreeSitterNode | null {
    const field = this.fieldIds.get(name);
    if (field === undefined) return null;
    this.wasm._ts_node_child_by_field_id_wasm(this.store(node), field);
    return this.readNode(node.tree, this.transfer);
  }

  childrenForField(node: TreeSitterNode, name: string): TreeSitterNode[] {
    const field = this.fieldIds.get(name);
    if (field === undefined) return [];
    this.wasm._ts_node_children_by_field_id_wasm(this.store(node), field);
    return this.readNodeList(node.tree);
  }

  /** Puts a node in the transfer buffer, where the binding's *_wasm functions read it, and returns its tree. */
  private store(node: TreeSitterNode): number {
    // HEAPU32 is re-read on each use: a memory.grow inside any wasm call replaces it.
    const heap = this.wasm.HEAPU32;
    const at = this.transfer;
    heap[at] = node.id;
    heap[at + 1] = node.startIndex;
    heap[at + 2] = node.startPosition.row;
    heap[at + 3] = node.startPosition.column;
    heap[at + 4] = node.context;
    return node.tree.pointer;
  }

  /** The node at word `at` of the wasm heap (null for the empty node a missing child reads as). */
  private readNode(tree: TreeContext, at: number): TreeSitterNode | null {
    const heap = this.wasm.HEAPU32;
    const id = heap[at];
    if (!id) return null;
    return new TreeSitterNode(tree, id, heap[at + 1], { row: heap[at + 2], column: heap[at + 3] }, heap[at + 4]);
  }

  /** The node list a *_children_wasm call left: a count, then a buffer of nodes that is ours to free. */
  private readNodeList(tree: TreeContext): TreeSitterNode[] {
    const heap = this.wasm.HEAPU32;
    const count = heap[this.transfer];
    const buffer = heap[this.transfer + 1];
    const nodes: TreeSitterNode[] = [];
    for (let i = 0; i < count; i++) nodes.push(this.readNode(tree, (buffer >>> 2) + i * NODE_WORDS)!);
    if (buffer) this.wasm._free(buffer);
    return nodes;
  }
}

interface TreeContext { reader: SyntaxReader; pointer: number; text: string }

/** A node of a tree tree-sitter parsed. */
class TreeSitterNode implements SyntaxNode {
  private cachedType?: string;
  private cachedEnd?: number;
  private cachedChildren?: TreeSitterNode[];
  private cachedNamedChildren?: TreeSitterNode[];

  /** `context` is the alias information tree-sitter keeps in a node, opaque here. */
  constructor(readonly tree: TreeContext, readonly id: number, readonly startIndex: number, readonly startPosition: Point, readonly context: number) {}

  get type(): string {
    return (this.cachedType ??= this.tree.reader.typeOf(this));
  }

  get isNamed(): boolean {
    return this.tree.reader.isNamed(this);
  }

  get endIndex(): number {
    return (this.cachedEnd ??= this.tree.reader.endIndex(this));
  }

  get hasError(): boolean {
    return this.tree.reader.hasError(this);
  }

  get isMissing(): boolean {
    return this.tree.reader.isMissing(this);
  }

  get endPosition(): Point {
    return this.tree.reader.endPosition(this);
  }

  get text(): string {
    return this.tree.text.slice(this.startIndex, this.endIndex);
  }

  get children(): TreeSitterNode[] {
    return (this.cachedChildren ??= this.tree.reader.children(this));
  }

  get namedChildren(): TreeSitterNode[] {
    return (this.cachedNamedChildren ??= this.tree.reader.namedChildren(this));
  }

  childForFieldName(name: string): SyntaxNode | null {
    return this.tree.reader.childForField(this, name);
  }

  childrenForFieldName(name: string): TreeSitterNode[] {
    return this.tree.reader.childrenForField(this, name);
  }
}
