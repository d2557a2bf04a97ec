import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import { assetDir } from '../../src/core/assets';
import type { SyntaxNode } from '../../src/core/discovery/syntax';
import { parser, py, repoRoot } from './discovery-helpers';

// syntax.ts reads web-tree-sitter's private wasm binding; this pins its nodes to what the public Node API
// says about the same text, node for node, so a web-tree-sitter upgrade that moves the binding fails here.

function pythonSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter(entry => entry.isFile() && entry.name.endsWith('.py'))
    .map(entry => fs.readFileSync(path.join(entry.parentPath, entry.name), 'utf8'));
}

const tricky = [
  // Error recovery: an unclosed bracket swallows the rest of the file into an ERROR node.
  py(`
    import pytest
    @pytest.mark.parametrize("x", [1, 2
    def test_a(x):
        pass
    class TestB:
        def test_c(self): ...
  `),
  // Code units beyond the BMP and non-ASCII names shift indices and columns against bytes.
  'import pytest\n\n@pytest.mark.parametrize("s", ["\u{1F600}x", "\u00e9"])\ndef test_\u00e9(s):  # \u{1F600}\n    pass\n',
  'def test_crlf():\r\n\tpass\r\n\r\nx = [1,\r\n  2]\r\n',
  py(`
    from a import (b as c, d)
    import e.f as g, h
    async def test_async(): ...
    pytestmark = [pytest.mark.mpi(min_size=-2), (pytest.mark.timeout(3))]
    y: int = -x if z else lambda q: q ** 2
  `),
  '',
];

/** Where each node stands among its parent's children: ids differ between two parses of the same text. */
function positions(nodes: readonly (SyntaxNode | TreeSitter.Node | null)[], children: readonly (SyntaxNode | TreeSitter.Node | null)[]): number[] {
  return nodes.map(node => children.findIndex(child => child?.id === node?.id));
}

function compare(ours: SyntaxNode, theirs: TreeSitter.Node, fields: string[], where: string): void {
  const at = `${where} > ${theirs.type}@${theirs.startIndex}`;
  assert.equal(ours.type, theirs.type, at);
  assert.equal(ours.isNamed, theirs.isNamed, at);
  assert.equal(ours.startIndex, theirs.startIndex, at);
  assert.equal(ours.endIndex, theirs.endIndex, at);
  assert.deepEqual(ours.startPosition, theirs.startPosition, at);
  assert.deepEqual(ours.endPosition, theirs.endPosition, at);
  assert.equal(ours.text, theirs.text, at);
  const children = theirs.children;
  assert.equal(ours.children.length, children.length, at);
  assert.deepEqual(positions(ours.namedChildren, ours.children), positions(theirs.namedChildren, children), at);
  for (const field of fields) {
    assert.deepEqual(positions([ours.childForFieldName(field)], ours.children), positions([theirs.childForFieldName(field)], children), `${at}.${field}`);
    assert.deepEqual(positions(ours.childrenForFieldName(field), ours.children), positions(theirs.childrenForFieldName(field), children), `${at}.${field}[]`);
  }
  ours.children.forEach((child, i) => compare(child, children[i]!, fields, at));
}

test('syntax nodes read the same tree as web-tree-sitter\'s public Node API', async () => {
  const ours = await parser();
  // The runtime is already up (the discovery parser started it); the grammar loads again for the public side.
  const language = await TreeSitter.Language.load(path.join(assetDir(), 'tree-sitter-python.wasm'));
  const reference = new TreeSitter.Parser();
  reference.setLanguage(language);
  const fields = language.fields.filter((f): f is string => f !== null);
  const sources = [...pythonSources(path.join(repoRoot, 'test/fixtures')), ...tricky];
  assert.ok(sources.length > 10);
  for (const [index, source] of sources.entries()) {
    const tree = reference.parse(source)!;
    try {
      ours.withTreeSitterTree(source, root => compare(root, tree.rootNode, fields, `source ${index}`));
    } finally {
      tree.delete();
    }
  }
  reference.delete();
});
