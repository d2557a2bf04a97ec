import path from 'node:path';
// require() picks the package's CommonJS build; its ESM build reads import.meta.url, which a CJS bundle lacks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import type { FileDiscovery } from '../types';
import { assetDir } from '../assets';
import { collectTests, type CollectedFile } from './collect';
import { compileConfig, type DiscoveryConfig } from './config';

export interface ParserOptions {
  /** Folder holding tree-sitter.wasm and tree-sitter-python.wasm; defaults to the shipped assets (dist/). */
  wasmDir?: string;
}

// The wasm runtime and the grammar load once per process, however many parsers are created.
const { Language, Parser } = TreeSitter;
const languages = new Map<string, Promise<TreeSitter.Language>>();

function loadPython(wasmDir: string): Promise<TreeSitter.Language> {
  let language = languages.get(wasmDir);
  if (!language) {
    language = Parser.init({ locateFile: () => path.join(wasmDir, 'tree-sitter.wasm') })
      .then(() => Language.load(path.join(wasmDir, 'tree-sitter-python.wasm')));
    language.catch(() => languages.delete(wasmDir));
    languages.set(wasmDir, language);
  }
  return language;
}

/** Owns one tree-sitter parser for Python; create once and reuse (discover is synchronous). */
export class PythonTestParser {
  private constructor(private readonly parser: TreeSitter.Parser) {}

  static async create(options: ParserOptions = {}): Promise<PythonTestParser> {
    const language = await loadPython(options.wasmDir ?? assetDir());
    const parser = new Parser();
    parser.setLanguage(language);
    return new PythonTestParser(parser);
  }

  discover(relFile: string, text: string, config: DiscoveryConfig): FileDiscovery {
    return this.discoverWithMarkers(relFile, text, config).discovery;
  }

  /** Also returns what each rank marker means (for hovers). Never throws on bad Python: tree-sitter recovers. */
  discoverWithMarkers(relFile: string, text: string, config: DiscoveryConfig): CollectedFile {
    const tree = this.parser.parse(text);
    if (!tree) return { discovery: { file: relFile, tests: [], diagnostics: [] }, markers: [] };
    try {
      return collectTests(tree.rootNode, relFile, compileConfig(config));
    } finally {
      tree.delete();
    }
  }

  dispose(): void {
    this.parser.delete();
  }
}
