import fs from 'node:fs';
import path from 'node:path';
// require() picks the package's CommonJS build; its ESM build reads import.meta.url, which a CJS bundle lacks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import type { FileDiscovery } from '../types';
import { assetDir } from '../assets';
import { collectTests, type CollectContext, type CollectedFile } from './collect';
import { compileConfig, type DiscoveryConfig } from './config';
import { NotParsed, parsePython } from './pyparse';
import { SyntaxReader, type SyntaxNode, type WasmModule } from './syntax';

export interface ParserOptions {
  /** Folder holding tree-sitter.wasm and tree-sitter-python.wasm; defaults to the shipped assets (dist/). */
  wasmDir?: string;
}

// The wasm runtime loads once per process (with the first wasmDir asked for), each grammar once per folder.
const { Language, Parser } = TreeSitter;
let runtime: Promise<WasmModule> | undefined;
const readers = new Map<string, Promise<{ language: TreeSitter.Language; reader: SyntaxReader }>>();

function loadRuntime(wasmDir: string): Promise<WasmModule> {
  if (!runtime) {
    const wasm = { locateFile: () => path.join(wasmDir, 'tree-sitter.wasm') };
    runtime = Parser.init(wasm).then(() => wasm as unknown as WasmModule);
    runtime.catch(() => { runtime = undefined; });
  }
  return runtime;
}

function loadPython(wasmDir: string): Promise<{ language: TreeSitter.Language; reader: SyntaxReader }> {
  let loaded = readers.get(wasmDir);
  if (!loaded) {
    loaded = loadRuntime(wasmDir).then(async wasm => {
      // Bytes, not a path: given a path, web-tree-sitter reads it through import('fs/promises'), which the
      // CLI's bundle cannot do when it runs from V8's code cache (cliLauncher.ts).
      const language = await Language.load(await fs.promises.readFile(path.join(wasmDir, 'tree-sitter-python.wasm')));
      return { language, reader: new SyntaxReader(wasm, language) };
    });
    loaded.catch(() => readers.delete(wasmDir));
    readers.set(wasmDir, loaded);
  }
  return loaded;
}

function parsedInJavaScript(text: string): SyntaxNode | undefined {
  try {
    return parsePython(text);
  } catch (err) {
    if (err instanceof NotParsed) return undefined;
    throw err;
  }
}

/** Owns one tree-sitter parser for Python; create once and reuse (discover is synchronous). */
export class PythonTestParser {
  private constructor(private readonly parser: TreeSitter.Parser, private readonly reader: SyntaxReader) {}

  static async create(options: ParserOptions = {}): Promise<PythonTestParser> {
    const { language, reader } = await loadPython(options.wasmDir ?? assetDir());
    const parser = new Parser();
    parser.setLanguage(language);
    return new PythonTestParser(parser, reader);
  }

  /**
   * The tests of one file. `context`: its folder's pytest rules and the project's other modules (conftest
   * fixtures, base classes in other files); without it, pytest's defaults and this file alone (registry.ts
   * `discoverFile` finds the context of the folder discoverFolder last walked).
   */
  discover(relFile: string, text: string, config: DiscoveryConfig, context?: CollectContext): FileDiscovery {
    return this.discoverWithMarkers(relFile, text, config, context).discovery;
  }

  /** Also returns what each rank marker means (for hovers). Never throws on bad Python: tree-sitter recovers. */
  discoverWithMarkers(relFile: string, text: string, config: DiscoveryConfig, context?: CollectContext): CollectedFile {
    const found = this.withTree(text, root => collectTests(root, relFile, compileConfig(config), context));
    return found ?? { discovery: { file: relFile, tests: [], diagnostics: [] }, markers: [] };
  }

  /** Parses text into a tree the caller keeps until it calls delete() (the modules other files import). */
  parseKept(text: string): { root: SyntaxNode; delete(): void } | undefined {
    const root = parsedInJavaScript(text);
    if (root) return { root, delete: () => undefined };
    const tree = this.parser.parse(text);
    if (!tree) return undefined;
    return { root: this.reader.root(tree, text), delete: () => tree.delete() };
  }

  /**
   * Parses text and hands its root to read; the tree is freed when read returns, and its nodes with it.
   * pyparse.ts parses what it can; tree-sitter the rest (syntax errors, the forms pyparse leaves to it).
   */
  withTree<T>(text: string, read: (root: SyntaxNode) => T): T | undefined {
    const root = parsedInJavaScript(text);
    return root ? read(root) : this.withTreeSitterTree(text, read);
  }

  /** withTree with tree-sitter's parse, whatever the text. */
  withTreeSitterTree<T>(text: string, read: (root: SyntaxNode) => T): T | undefined {
    const tree = this.parser.parse(text);
    if (!tree) return undefined;
    try {
      return read(this.reader.root(tree, text));
    } finally {
      tree.delete();
    }
  }

  dispose(): void {
    this.parser.delete();
  }
}
