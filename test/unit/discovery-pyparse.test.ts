import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import { assetDir } from '../../src/core/assets';
import { NotParsed, parsePython, type PyNode } from '../../src/core/discovery/pyparse';
import { parser, py, repoRoot } from './discovery-helpers';

// pyparse.ts must build tree-sitter-python's tree (without comments and line continuations) for every file
// it accepts, and refuse the rest. The oracle is tree-sitter itself, on real code: the test fixtures, the
// Python standard library and Debian's Python packages (pytest, mpi4py, numpy... which `npm test` installs).

const CORPORA = ['/usr/lib/python3.11', '/usr/lib/python3/dist-packages'];
const EXTRAS = new Set(['comment', 'line_continuation']);

function pythonFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter(entry => entry.isFile() && entry.name.endsWith('.py'))
    .map(entry => path.join(entry.parentPath, entry.name));
}

/** The first difference between the two trees, or undefined. */
function difference(ours: PyNode, theirs: TreeSitter.Node, where: string): string | undefined {
  const at = `${where}:${theirs.startPosition.row + 1}:${theirs.startPosition.column} ${theirs.type}`;
  if (ours.type !== theirs.type || ours.isNamed !== theirs.isNamed) return `${at}: ${ours.type} (named ${ours.isNamed}) for ${theirs.type} (named ${theirs.isNamed})`;
  if (ours.startIndex !== theirs.startIndex || ours.endIndex !== theirs.endIndex) return `${at}: [${ours.startIndex}, ${ours.endIndex}) for [${theirs.startIndex}, ${theirs.endIndex})`;
  if (JSON.stringify([ours.startPosition, ours.endPosition]) !== JSON.stringify([theirs.startPosition, theirs.endPosition])) return `${at}: positions`;
  const children: [TreeSitter.Node, string | null][] = [];
  for (let i = 0; i < theirs.childCount; i++) {
    const child = theirs.child(i)!;
    if (!EXTRAS.has(child.type)) children.push([child, theirs.fieldNameForChild(i)]);
  }
  if (ours.children.length !== children.length) return `${at}: children ${ours.children.map(c => c.type).join(' ')} for ${children.map(c => c[0].type).join(' ')}`;
  for (const [i, [child, field]] of children.entries()) {
    if ((ours.fieldOf(i) ?? null) !== field) return `${at}: child ${i} in field ${ours.fieldOf(i)} for ${field}`;
    const found = difference(ours.children[i], child, where);
    if (found) return found;
  }
  return undefined;
}

async function referenceParser(): Promise<TreeSitter.Parser> {
  await parser(); // starts web-tree-sitter's runtime
  const reference = new TreeSitter.Parser();
  reference.setLanguage(await TreeSitter.Language.load(path.join(assetDir(), 'tree-sitter-python.wasm')));
  return reference;
}

interface Outcome { same: number; refused: Map<string, number>; differences: string[] }

function compareOn(reference: TreeSitter.Parser, sources: { name: string; text: string }[]): Outcome {
  const outcome: Outcome = { same: 0, refused: new Map(), differences: [] };
  for (const { name, text } of sources) {
    const tree = reference.parse(text)!;
    try {
      let ours: PyNode | undefined;
      try {
        ours = parsePython(text);
      } catch (err) {
        if (!(err instanceof NotParsed)) throw err;
        outcome.refused.set(err.message, (outcome.refused.get(err.message) ?? 0) + 1);
      }
      if (tree.rootNode.hasError) {
        if (ours) outcome.differences.push(`${name}: tree-sitter finds a syntax error, pyparse none`);
      } else if (ours) {
        const found = difference(ours, tree.rootNode, name);
        if (found) outcome.differences.push(found);
        else outcome.same++;
      }
    } finally {
      tree.delete();
    }
  }
  return outcome;
}

test('pyparse builds tree-sitter\'s tree for the fixtures and tricky sources, and refuses syntax errors', async () => {
  const reference = await referenceParser();
  const fixtures = pythonFiles(path.join(repoRoot, 'test/fixtures')).map(file => ({ name: file, text: fs.readFileSync(file, 'utf8') }));
  const tricky = [
    // Comments decide where blocks end (tree-sitter's scanner closes a block before the first comment
    // indented less than it).
    py(`
      class A:
          def m(self):
              pass
            # six: in the class
          # four: in the class
        # two: in the module
      x = 1  # trailing
      def f():
          # leading: before the block
          y = 2
          # trailing: in the block

      # zero
      @dec  # on the decorator
      def g(): pass  # in the block
    `),
    'def test_crlf():\r\n\tpass\r\n  # c\r\n\r\nx = [1,\r\n  2]\r\n',
    'import pytest\n\n@pytest.mark.parametrize("s", ["\u{1F600}x", "\u00e9"])\ndef test_\u00e9(s):  # \u{1F600}\n    pass\n',
    py(`
      from ... import a
      from .b import (c as d, e,)
      from __future__ import annotations
      x: List[int] = [*a, *b]
      y = f"{a!r:>{w}} {b=} {{c}} {'n' + f'{d}'}" rb'\\\\' r'\\'' 'a' "\\N{DASH}\\x41\\d"
      z = lambda a, /, b=1, *c, d, **e: (yield)
      w = [i for i, (j, k) in enumerate(x) if i not in j if k is not None]
      v = {**a, 'b': 1}, {a for a in b}, {a: b async for a, b in c}
      u = a & b ^ c | -d ** -e @ f // g
      t = x[1:2, ::3, ...] if not a == b < c else await d
      def f(a: Dict[str, List[int]], *b: int, c: "X" = None, **d) -> None: ...
      async def g(): 
          async with a as b, c: pass
          async for x in y: pass
      try:
          pass
      except (A, B) as e:
          raise X from e
      else:
          del a, b
      finally:
          global q
      while x:
          break
      else:
          continue
      print(a, b)
      assert a, "m"
    `),
    // tree-sitter's GLR picks: `*name` first in an expression list or alone in brackets takes trailers as
    // a primary; a generic type before `|` makes a union_type.
    py(`
      a = [*f()], [*f(), x], [*a.b], [*a.b, x], [x, *a.b], (*f(),), {*f()}, [*a[0]], [*a[0], x], (*a.b, x)
      y = *f(), x
      z = *a.b, x
      w = x, *a.b
      def g():
          return x, *a.b
      def f(a: dict[str, Any] | None = None, b: List[int] | None, c: int | None) -> list[int] | None: ...
    `),
    '',
    '# only a comment\n',
    '\n\n  \nx = 1',
  ].map((text, i) => ({ name: `tricky ${i}`, text }));
  // Syntax errors, and forms whose tree tree-sitter builds by a GLR choice pyparse does not copy.
  const refused = [
    'def f(:\n    pass\n',
    'x = [1, 2\ndef test_a():\n    pass\n',
    'def f():\npass\n',
    'if x:\n    a\n  b\n',
    's = "unterminated\n',
    'x = 1 +\n',
    'print "python 2"\n',
    'match x:\n    case 1: pass\n',
    'x = rf"\\{c}"\n',
    'x, *a.b\n',
    `x = ${'['.repeat(20000)}${']'.repeat(20000)}\n`,
  ];
  const outcome = compareOn(reference, [...fixtures, ...tricky]);
  assert.deepEqual(outcome.differences, []);
  assert.equal(outcome.same, fixtures.length + tricky.length, `refused: ${[...outcome.refused.keys()].join('; ')}`);
  for (const text of refused) assert.throws(() => parsePython(text), NotParsed, text);
  reference.delete();
});

test('pyparse builds tree-sitter\'s tree for the standard library and Debian\'s Python packages, or refuses', async () => {
  const corpora = CORPORA.filter(dir => fs.existsSync(dir));
  if (corpora.length < CORPORA.length && process.env.CI === 'true') assert.fail(`missing ${CORPORA.filter(dir => !corpora.includes(dir)).join(', ')}: npm test installs Debian's python3 packages`);
  const files = corpora.flatMap(pythonFiles);
  const reference = await referenceParser();
  const sources = files.flatMap(file => {
    try {
      return [{ name: file, text: fs.readFileSync(file, 'utf8') }];
    } catch {
      return [];
    }
  });
  const outcome = compareOn(reference, sources);
  reference.delete();
  assert.deepEqual(outcome.differences, []);
  const refused = [...outcome.refused.values()].reduce((a, b) => a + b, 0);
  // What pyparse leaves to tree-sitter must stay rare, or discovery loses its speed on real projects.
  assert.ok(refused <= sources.length / 50, `refused ${refused} of ${sources.length}: ${JSON.stringify([...outcome.refused])}`);
  assert.ok(outcome.same > 1000, `${outcome.same} files compared`);
});

test('pyparse refuses every edit that makes a syntax error, and builds tree-sitter\'s tree for the others', async () => {
  // Seeded single edits (a token inserted, characters deleted), as a file looks while it is typed.
  let seed = 12345;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const pieces = ['(', ')', '[', ']', ':', ',', '=', '\n', ' ', '    ', '"', "'", '#', '\\', '*', '.', 'def ', 'if ', 'else', 'lambda', '@', '{', '}', ';', 'x', '1', '+'];
  const stdlib = fs.existsSync(CORPORA[0]) ? fs.readdirSync(CORPORA[0]).filter(name => name.endsWith('.py')).slice(0, 80).map(name => path.join(CORPORA[0], name)) : [];
  const sources: { name: string; text: string }[] = [];
  for (const file of [...pythonFiles(path.join(repoRoot, 'test/fixtures')), ...stdlib]) {
    const text = fs.readFileSync(file, 'utf8');
    for (let k = 0; k < 8; k++) {
      const at = random(text.length + 1);
      const edited = random(2) ? text.slice(0, at) + pieces[random(pieces.length)] + text.slice(at) : text.slice(0, at) + text.slice(at + 1 + random(3));
      sources.push({ name: `${file} edited at ${at}`, text: edited });
    }
  }
  const reference = await referenceParser();
  const outcome = compareOn(reference, sources);
  reference.delete();
  assert.deepEqual(outcome.differences, []);
  assert.ok(sources.length > 700, `${sources.length} edits`);
});
