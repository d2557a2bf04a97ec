// Syntax nodes as discovery reads them: the part of web-tree-sitter's Node API that collect.ts and scope.ts
// use, at a fraction of its cost. web-tree-sitter moves every node in and out of the wasm heap through
// Emscripten's generic setValue/getValue (a string switch per 32-bit word) and allocates a fresh Node on
// every visit; over thousands of files that cost more than parsing them. These nodes call the same C
// functions of web-tree-sitter's binding (lib/tree-sitter.c in its package) with the same transfer-buffer
// layout, but write and read the buffer directly and cache what they read. That layout is private to
// web-tree-sitter, so package.json pins its version and discovery-syntax.test.ts compares these nodes
// with the public API's, node for node.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');

export interface Point { row: number; column: number }

/**
 * The Emscripten module web-tree-sitter runs on. Emscripten fills the options object given to Parser.init
 * with the module's exports, so that object is the module once init resolves.
 */
export interface WasmModule {
  HEAP_DATA_VIEW: DataView;
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
}

const REQUIRED_EXPORTS = ['_free', '_ts_init', '_ts_tree_root_node_wasm', '_ts_node_symbol_wasm', '_ts_node_is_named_wasm',
  '_ts_node_end_index_wasm', '_ts_node_end_point_wasm', '_ts_node_children_wasm', '_ts_node_named_children_wasm',
  '_ts_node_child_by_field_id_wasm', '_ts_node_children_by_field_id_wasm'] as const;

/** Bytes per node in the transfer buffer: id, start index, start row, start column, alias context. */
const NODE_BYTES = 20;

/** Reads the trees of one language through web-tree-sitter's wasm module (one per process). */
export class SyntaxReader {
  private readonly transfer: number;
  private readonly fieldIds = new Map<string, number>();

  constructor(private readonly wasm: WasmModule, private readonly language: TreeSitter.Language) {
    const missing = REQUIRED_EXPORTS.filter(name => typeof wasm[name] !== 'function');
    if (missing.length || !(wasm.HEAP_DATA_VIEW instanceof DataView)) {
      throw new Error(`web-tree-sitter's wasm binding lacks ${missing.join(', ') || 'HEAP_DATA_VIEW'}: discovery needs the version package.json pins`);
    }
    this.transfer = wasm._ts_init();
    language.fields.forEach((name, id) => { if (name && id > 0) this.fieldIds.set(name, id); });
  }

  /** The root of a tree parsed from `text`; its nodes are valid until the tree is deleted. */
  root(tree: TreeSitter.Tree, text: string): SyntaxNode {
    // A Tree's slot 0 is its C pointer (private to web-tree-sitter, like the rest of this binding).
    const context: TreeContext = { reader: this, pointer: (tree as unknown as Record<0, number>)[0], text };
    this.wasm._ts_tree_root_node_wasm(context.pointer);
    return this.readNode(context, this.transfer)!;
  }

  typeOf(node: SyntaxNode): string {
    return this.language.types[this.wasm._ts_node_symbol_wasm(this.store(node))] || 'ERROR';
  }

  isNamed(node: SyntaxNode): boolean {
    return this.wasm._ts_node_is_named_wasm(this.store(node)) === 1;
  }

  endIndex(node: SyntaxNode): number {
    return this.wasm._ts_node_end_index_wasm(this.store(node));
  }

  endPosition(node: SyntaxNode): Point {
    this.wasm._ts_node_end_point_wasm(this.store(node));
    const view = this.wasm.HEAP_DATA_VIEW;
    return { row: view.getUint32(this.transfer, true), column: view.getUint32(this.transfer + 4, true) };
  }

  children(node: SyntaxNode): SyntaxNode[] {
    this.wasm._ts_node_children_wasm(this.store(node));
    return this.readNodeList(node.tree);
  }

  namedChildren(node: SyntaxNode): SyntaxNode[] {
    this.wasm._ts_node_named_children_wasm(this.store(node));
    return this.readNodeList(node.tree);
  }

  childForField(node: SyntaxNode, name: string): SyntaxNode | null {
    const field = this.fieldIds.get(name);
    if (field === undefined) return null;
    this.wasm._ts_node_child_by_field_id_wasm(this.store(node), field);
    return this.readNode(node.tree, this.transfer);
  }

  childrenForField(node: SyntaxNode, name: string): SyntaxNode[] {
    const field = this.fieldIds.get(name);
    if (field === undefined) return [];
    this.wasm._ts_node_children_by_field_id_wasm(this.store(node), field);
    return this.readNodeList(node.tree);
  }

  /** Puts a node in the transfer buffer, where the binding's *_wasm functions read it, and returns its tree. */
  private store(node: SyntaxNode): number {
    // The view is re-read on each use: a memory.grow inside any wasm call replaces it.
    const view = this.wasm.HEAP_DATA_VIEW;
    const at = this.transfer;
    view.setUint32(at, node.id, true);
    view.setUint32(at + 4, node.startIndex, true);
    view.setUint32(at + 8, node.startPosition.row, true);
    view.setUint32(at + 12, node.startPosition.column, true);
    view.setUint32(at + 16, node.context, true);
    return node.tree.pointer;
  }

  private readNode(tree: TreeContext, at: number): SyntaxNode | null {
    const view = this.wasm.HEAP_DATA_VIEW;
    const id = view.getUint32(at, true);
    if (!id) return null;
    const start = { row: view.getUint32(at + 8, true), column: view.getUint32(at + 12, true) };
    return new SyntaxNode(tree, id, view.getUint32(at + 4, true), start, view.getUint32(at + 16, true));
  }

  /** The node list a *_children_wasm call left: a count, then a buffer of nodes that is ours to free. */
  private readNodeList(tree: TreeContext): SyntaxNode[] {
    const view = this.wasm.HEAP_DATA_VIEW;
    const count = view.getUint32(this.transfer, true);
    const buffer = view.getUint32(this.transfer + 4, true);
    const nodes: SyntaxNode[] = [];
    for (let i = 0; i < count; i++) {
      const node = this.readNode(tree, buffer + i * NODE_BYTES);
      if (node) nodes.push(node);
    }
    if (buffer) this.wasm._free(buffer);
    return nodes;
  }
}

interface TreeContext { reader: SyntaxReader; pointer: number; text: string }

/** A node of a parsed tree. Indices and columns count UTF-16 code units, as in the parsed JS string. */
export class SyntaxNode {
  private cachedType?: string;
  private cachedEnd?: number;
  private cachedChildren?: SyntaxNode[];
  private cachedNamedChildren?: SyntaxNode[];

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

  get endPosition(): Point {
    return this.tree.reader.endPosition(this);
  }

  get text(): string {
    return this.tree.text.slice(this.startIndex, this.endIndex);
  }

  get children(): SyntaxNode[] {
    return (this.cachedChildren ??= this.tree.reader.children(this));
  }

  get namedChildren(): SyntaxNode[] {
    return (this.cachedNamedChildren ??= this.tree.reader.namedChildren(this));
  }

  childForFieldName(name: string): SyntaxNode | null {
    return this.tree.reader.childForField(this, name);
  }

  childrenForFieldName(name: string): SyntaxNode[] {
    return this.tree.reader.childrenForField(this, name);
  }
}
