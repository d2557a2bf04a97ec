// The discovery cache's file layout (see cache.ts). Reopening a large workspace reads one of these for
// tens of thousands of tests, so it is laid out for reading: JSON for the small parts (key, facts), one
// block of text holding every string the entries use (decoded with one call; entries take substrings of
// it, which V8 keeps as slices), and the entries as a stream of varints that name those strings by
// position. Decoding builds each TestSpec once, in its final shape; JSON for the whole file cost
// three times as much (a 4 MB parse, then a second object per test, and the collector copying both).
//
//   'DTC' FORMAT | u32 length, header JSON {key, facts, encoding} | u32 length, text block | string table | entries
//
// The string table: varint count, each string's length (they follow each other in the text block).
// entries: varint count, then per file: rel, hash (strings), stamp (0, or 1 and 4 doubles), varint test
// count, tests, diagnostics (a JSON string, empty for none). A string is its varint number in the table,
// sliced from the text once however often it is used. A test: varint flags, id, range (4 varints), then what the flags say is there;
// a test whose fields are not all of the expected kinds is stored whole as JSON (FLAG_JSON).
import { isAscii } from 'node:buffer';
import { testName, type FileDiscovery, type MarkerDiagnostic, type TestSpec } from '../types';
import type { DependencyFacts } from './project';

export const FORMAT = 2;

/** A file's size and times: while they stay, its content is taken to be the one hashed. */
export interface FileStamp { size: number; mtimeMs: number; ctimeMs: number; ino: number }
const MAGIC = [0x44, 0x54, 0x43, FORMAT]; // 'DTC' and the format

export interface StoredEntry { rel: string; hash: string; stamp: FileStamp | undefined; discovery: FileDiscovery }
export interface StoredFolder { key: string; facts: DependencyFacts<string>; entries: StoredEntry[] }

const FLAG_JSON = 1; // the whole test as JSON in the id's place
const FLAG_GROUP = 2;
const FLAG_LABEL = 4; // a label other than the id's last part
const FLAG_FILE = 8; // a file other than the entry's
const FLAG_CLASS = 16;
const FLAG_RANKS_NULL = 32;
const FLAG_REST = 64; // the other fields as a JSON object

/** The TestSpec fields with a place of their own. */
const OWN = new Set(['id', 'groupId', 'label', 'file', 'range', 'framework', 'ranks', 'className']);

type Encoding = 'latin1' | 'utf8' | 'utf16le';

// ---- writing ----

class Writer {
  private bytes = Buffer.allocUnsafe(1 << 16);
  length = 0;
  private readonly text: string[] = [];
  private readonly interned = new Map<string, number>();

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  varint(n: number): void {
    this.room(8);
    while (n >= 0x80) {
      this.bytes[this.length++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.bytes[this.length++] = n;
  }

  double(n: number): void {
    this.room(8);
    this.bytes.writeDoubleLE(n, this.length);
    this.length += 8;
  }

  /** A string as its number in the text block's table; equal strings share one. */
  string(s: string): void {
    let index = this.interned.get(s);
    if (index === undefined) {
      index = this.text.length;
      this.text.push(s);
      this.interned.set(s, index);
    }
    this.varint(index);
  }

  /** A string that is seldom repeated (an id, a path, a hash): a number of its own without the lookup (a repeat is stored twice). */
  unique(s: string): void {
    this.varint(this.text.length);
    this.text.push(s);
  }

  /** The lengths of the table's strings, in order. */
  lengths(): number[] {
    return this.text.map(s => s.length);
  }

  /** The text block and how it is encoded: one byte a character when it can be, else UTF-8 when that round-trips (no lone surrogates). */
  textBlock(): { encoding: Encoding; bytes: Buffer } {
    const text = this.text.join('');
    // eslint-disable-next-line no-control-regex
    if (/^[\x00-\x7f]*$/.test(text)) return { encoding: 'latin1', bytes: Buffer.from(text, 'latin1') };
    const wellFormed = (text as string & { isWellFormed?: () => boolean }).isWellFormed?.() ?? false;
    return wellFormed ? { encoding: 'utf8', bytes: Buffer.from(text, 'utf8') } : { encoding: 'utf16le', bytes: Buffer.from(text, 'utf16le') };
  }

  body(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function writeTest(w: Writer, test: TestSpec, rel: string): void {
  const { id, groupId, label, file, range, framework, ranks, className } = test;
  let rest: Record<string, unknown> | undefined;
  for (const key in test) {
    if (OWN.has(key)) continue;
    const value = test[key as keyof TestSpec];
    if (value !== undefined) (rest ??= {})[key] = value;
  }
  const plain = typeof id === 'string' && typeof label === 'string' && typeof file === 'string' && typeof framework === 'string'
    && (groupId === undefined || typeof groupId === 'string') && (className === undefined || typeof className === 'string')
    && (ranks === null || isCount(ranks)) && typeof range === 'object' && range !== null
    && isCount(range.line) && isCount(range.column) && isCount(range.endLine) && isCount(range.endColumn);
  if (!plain) {
    w.varint(FLAG_JSON);
    w.string(JSON.stringify(test));
    return;
  }
  const flags = (groupId !== undefined ? FLAG_GROUP : 0) | (label !== testName(id) ? FLAG_LABEL : 0) | (file !== rel ? FLAG_FILE : 0)
    | (className !== undefined ? FLAG_CLASS : 0) | (ranks === null ? FLAG_RANKS_NULL : 0) | (rest ? FLAG_REST : 0);
  w.varint(flags);
  w.unique(id);
  w.varint(range.line);
  w.varint(range.column);
  w.varint(range.endLine);
  w.varint(range.endColumn);
  w.string(framework);
  if (ranks !== null) w.varint(ranks);
  if (groupId !== undefined) w.string(groupId);
  if (flags & FLAG_LABEL) w.string(label);
  if (flags & FLAG_FILE) w.string(file);
  if (className !== undefined) w.string(className);
  if (rest) w.string(JSON.stringify(rest));
}

export function encodeFolder(folder: StoredFolder): Buffer {
  const w = new Writer();
  w.varint(folder.entries.length);
  for (const { rel, hash, stamp, discovery } of folder.entries) {
    w.unique(rel);
    w.unique(hash);
    if (stamp) {
      w.varint(1);
      w.double(stamp.size);
      w.double(stamp.mtimeMs);
      w.double(stamp.ctimeMs);
      w.double(stamp.ino);
    } else {
      w.varint(0);
    }
    w.varint(discovery.tests.length);
    for (const test of discovery.tests) writeTest(w, test, rel);
    w.string(discovery.diagnostics.length ? JSON.stringify(discovery.diagnostics) : '');
  }
  const { encoding, bytes: text } = w.textBlock();
  const table = new Writer();
  const lengths = w.lengths();
  table.varint(lengths.length);
  for (const length of lengths) table.varint(length);
  const { facts } = folder;
  const header = Buffer.from(JSON.stringify({ key: folder.key, encoding, facts: { texts: [...facts.texts], holds: [...facts.holds], files: [...facts.files] } }), 'utf8');
  const out = Buffer.allocUnsafe(MAGIC.length + 4 + header.length + 4 + text.length + table.length + w.length);
  let at = 0;
  for (const b of MAGIC) out[at++] = b;
  at = out.writeUInt32LE(header.length, at);
  at += header.copy(out, at);
  at = out.writeUInt32LE(text.length, at);
  at += text.copy(out, at);
  at += table.body().copy(out, at);
  w.body().copy(out, at);
  return out;
}

// ---- reading ----

class Malformed extends Error {}

class Reader {
  at: number;
  /** Where each string of the table starts in the text, and the strings sliced so far. */
  private readonly starts: number[] = [];
  private readonly strings: (string | undefined)[] = [];
  constructor(private readonly bytes: Buffer, start: number, private readonly text: string) {
    this.at = start;
  }

  /** Reads the string table (its strings' lengths). */
  table(): void {
    const count = this.varint();
    let start = 0;
    for (let i = 0; i < count; i++) {
      this.starts.push(start);
      start += this.varint();
    }
    if (start !== this.text.length) throw new Malformed('the string table does not match the text');
    this.starts.push(start);
    this.strings.length = count;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.bytes.length || scale > 2 ** 49) throw new Malformed('an entry is cut short');
      const b = this.bytes[this.at++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
  }

  double(): number {
    if (this.at + 8 > this.bytes.length) throw new Malformed('an entry is cut short');
    const n = this.bytes.readDoubleLE(this.at);
    this.at += 8;
    return n;
  }

  string(): string {
    const index = this.varint();
    const known = this.strings[index];
    if (known !== undefined) return known;
    if (index >= this.strings.length) throw new Malformed('a string is out of bounds');
    return (this.strings[index] = this.text.slice(this.starts[index], this.starts[index + 1]));
  }
}

/** The folder a cache file holds when its key is `key`; undefined for another key. Throws on a malformed file. */
export function decodeFolder(bytes: Buffer, key: string): StoredFolder | undefined {
  if (bytes.length < MAGIC.length + 8 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Malformed('not a distest cache file of this format');
  let at = MAGIC.length;
  const headerLength = bytes.readUInt32LE(at);
  at += 4;
  if (at + headerLength + 4 > bytes.length) throw new Malformed('the header is cut short');
  const header = JSON.parse(bytes.toString('utf8', at, at + headerLength)) as { key?: unknown; encoding?: unknown; facts?: Record<string, unknown> };
  at += headerLength;
  if (typeof header !== 'object' || header === null || typeof header.key !== 'string') throw new Malformed('no key');
  if (header.key !== key) return undefined; // another version, settings or configuration: nothing to reuse
  const encoding = header.encoding;
  if (encoding !== 'latin1' && encoding !== 'utf8' && encoding !== 'utf16le') throw new Malformed('unknown text encoding');
  const facts = header.facts;
  if (typeof facts !== 'object' || facts === null) throw new Malformed('no facts');
  const textLength = bytes.readUInt32LE(at);
  at += 4;
  if (at + textLength > bytes.length) throw new Malformed('the text is cut short');
  const textBytes = bytes.subarray(at, at + textLength);
  if (encoding === 'latin1' && !isAscii(textBytes)) throw new Malformed('the text is not ASCII');
  const text = textBytes.toString(encoding);
  const r = new Reader(bytes, at + textLength, text);
  r.table();
  const count = r.varint();
  const entries: StoredEntry[] = [];
  for (let i = 0; i < count; i++) {
    const rel = r.string();
    const hash = r.string();
    const stamped = r.varint();
    const stamp = stamped ? { size: r.double(), mtimeMs: r.double(), ctimeMs: r.double(), ino: r.double() } : undefined;
    const tests: TestSpec[] = new Array(r.varint());
    for (let t = 0; t < tests.length; t++) tests[t] = readTest(r, rel);
    const diagnosticsText = r.string();
    const diagnostics = diagnosticsText ? (JSON.parse(diagnosticsText) as MarkerDiagnostic[]) : [];
    if (!Array.isArray(diagnostics)) throw new Malformed(`the diagnostics of ${rel} are malformed`);
    entries.push({ rel, hash, stamp, discovery: { file: rel, tests, diagnostics } });
  }
  if (r.at !== bytes.length) throw new Malformed('bytes after the last entry');
  return {
    key,
    facts: { texts: new Map(pairs(facts.texts, 'string')), holds: new Map(pairs(facts.holds, 'boolean')), files: new Map(pairs(facts.files, 'boolean')) },
    entries,
  };
}

function readTest(r: Reader, rel: string): TestSpec {
  const flags = r.varint();
  if (flags & FLAG_JSON) {
    const test = JSON.parse(r.string()) as TestSpec;
    if (typeof test !== 'object' || test === null || typeof test.id !== 'string') throw new Malformed(`a test of ${rel} is malformed`);
    return test;
  }
  const id = r.string();
  const range = { line: r.varint(), column: r.varint(), endLine: r.varint(), endColumn: r.varint() };
  const framework = r.string() as TestSpec['framework'];
  const ranks = flags & FLAG_RANKS_NULL ? null : r.varint();
  const test: TestSpec = { id, label: '', file: rel, range, framework, ranks };
  if (flags & FLAG_GROUP) test.groupId = r.string();
  test.label = flags & FLAG_LABEL ? r.string() : testName(id);
  if (flags & FLAG_FILE) test.file = r.string();
  if (flags & FLAG_CLASS) test.className = r.string();
  if (flags & FLAG_REST) {
    const rest = JSON.parse(r.string()) as Record<string, unknown>;
    if (typeof rest !== 'object' || rest === null) throw new Malformed(`a test of ${rel} is malformed`);
    Object.assign(test, rest);
  }
  return test;
}

/** A stored list of [string, value] pairs, checked. */
function pairs<T>(list: unknown, type: 'string' | 'boolean'): [string, T][] {
  if (!Array.isArray(list) || !list.every(p => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === type)) throw new Malformed('the facts are malformed');
  return list as [string, T][];
}

