// pytest's configuration files, read as pytest reads them: iniconfig's rules for pytest.ini, tox.ini and
// setup.cfg, TOML for pyproject.toml and pytest.toml. The first file with a pytest section, walking up
// from the folder pytest is started in, is the inifile and its folder the rootdir (findpaths.py).
import fs from 'node:fs';
import path from 'node:path';
import { pyFloatRepr } from './literals';

/** An option as the file spells it: a string (ini files, TOML scalars) or a list (TOML arrays). */
export type IniValue = string | string[];

export interface PytestConfigFile {
  /** Absolute path. */
  path: string;
  options: Map<string, { value: IniValue; line: number }>;
}

export interface ConfigProblem { path: string; line: number; message: string; severity: 'error' | 'warning' | 'info' }

/** The names pytest looks for in each folder, in its order (pytest.toml and .pytest.toml since pytest 9). */
const CONFIG_NAMES = ['pytest.toml', '.pytest.toml', 'pytest.ini', '.pytest.ini', 'pyproject.toml', 'tox.ini', 'setup.cfg'];

const CONFIG_NAME_SET = new Set(CONFIG_NAMES);

export function isConfigFileName(name: string): boolean {
  return CONFIG_NAME_SET.has(name);
}

/**
 * The inifile pytest picks when started in `startDir` without path arguments, or undefined. Files that
 * cannot be parsed are reported and skipped (pytest would stop with a usage error).
 */
export function locatePytestConfig(startDir: string, problems: ConfigProblem[]): PytestConfigFile | undefined {
  // A stat per name, as pytest's is_file(): listing each folder instead costs more in a large one (/tmp).
  for (let dir = startDir; ; dir = path.dirname(dir)) {
    for (const name of CONFIG_NAMES) {
      const found = readPytestConfig(path.join(dir, name), problems);
      if (found) return found;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** The pytest section of one config file, or undefined when it has none (or is not a file). */
export function readPytestConfig(file: string, problems: ConfigProblem[]): PytestConfigFile | undefined {
  let text: string;
  try {
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return undefined;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const name = path.basename(file);
  try {
    if (name.endsWith('.toml')) return pytestTableOf(file, name, parseToml(text));
    const sections = parseIni(text);
    const wanted = name.endsWith('.cfg') ? 'tool:pytest' : 'pytest';
    const section = sections.get(wanted);
    if (section) return { path: file, options: section };
    // pytest.ini (and, since pytest 9, .pytest.ini) is the configuration even without a [pytest] section.
    if (name === 'pytest.ini' || name === '.pytest.ini') return { path: file, options: new Map() };
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigSyntaxError)) throw err;
    problems.push({ path: file, line: err.line, message: `pytest cannot read this file: ${err.message}`, severity: 'error' });
    return undefined;
  }
}

function pytestTableOf(file: string, name: string, doc: TomlTable): PytestConfigFile | undefined {
  const asOptions = (table: TomlTable): PytestConfigFile => {
    const tableLines = table[LINES];
    const options = new Map<string, { value: IniValue; line: number }>();
    for (const [key, value] of Object.entries(table)) {
      options.set(key, { value: Array.isArray(value) ? value.map(tomlScalarText) : tomlScalarText(value), line: tableLines?.get(key) ?? 1 });
    }
    return { path: file, options };
  };
  if (name !== 'pyproject.toml') {
    const table = doc.pytest;
    return isTable(table) ? asOptions(table) : { path: file, options: new Map() };
  }
  const tool = doc.tool;
  const pytest = isTable(tool) ? tool.pytest : undefined;
  if (!isTable(pytest)) return undefined;
  const iniOptions = pytest.ini_options;
  if (isTable(iniOptions)) return asOptions(iniOptions);
  // pytest 9's native [tool.pytest] table.
  const native: TomlTable = {};
  for (const [key, value] of Object.entries(pytest)) if (key !== 'ini_options') native[key] = value;
  Object.defineProperty(native, LINES, { value: pytest[LINES], enumerable: false });
  return Object.keys(native).length ? asOptions(native) : undefined;
}

/** Python's str() of a TOML scalar, which is how pytest turns [tool.pytest.ini_options] values into ini strings. */
function tomlScalarText(value: TomlValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return pyFloatRepr(value);
  return JSON.stringify(value);
}

export class ConfigSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

// ---- ini files (iniconfig 1.x, as Debian's and pytest 7's) ----

/** Sections → options with their 1-based line. Continuation lines (indented) join with a newline. */
export function parseIni(text: string): Map<string, Map<string, { value: string; line: number }>> {
  const sections = new Map<string, Map<string, { value: string; line: number }>>();
  let section: Map<string, { value: string; line: number }> | undefined;
  let last: { value: string; line: number } | undefined;
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index];
    const stripped = raw.trimStart();
    if (stripped.startsWith('#') || stripped.startsWith(';')) continue;
    const line = raw.trimEnd();
    if (!line) continue;
    if (line[0] === '[') {
      const header = line.split('#')[0].split(';')[0].trimEnd();
      if (header.endsWith(']')) {
        const name = header.slice(1, -1);
        if (!name) throw new ConfigSyntaxError(index + 1, 'empty section name');
        if (sections.has(name)) throw new ConfigSyntaxError(index + 1, `duplicate section '${name}'`);
        sections.set(name, (section = new Map()));
        last = undefined;
        continue;
      }
      // iniconfig reads a `[` line without its `]` as a continuation.
      if (!last) throw new ConfigSyntaxError(index + 1, 'unexpected value continuation');
      last.value = last.value ? `${last.value}\n${line.trim()}` : line.trim();
      continue;
    }
    if (/\s/.test(line[0])) {
      if (!last) throw new ConfigSyntaxError(index + 1, 'unexpected value continuation');
      last.value = last.value ? `${last.value}\n${line.trim()}` : line.trim();
      continue;
    }
    // `name = value`, or `name: value` when there is no `=` or a `:` comes before it.
    const equals = line.indexOf('=');
    const split = equals >= 0 && !line.slice(0, equals).includes(':') ? equals : line.indexOf(':');
    if (split < 0) throw new ConfigSyntaxError(index + 1, `unexpected line: ${JSON.stringify(line)}`);
    if (!section) throw new ConfigSyntaxError(index + 1, 'no section header defined');
    const key = line.slice(0, split).trim();
    if (section.has(key)) throw new ConfigSyntaxError(index + 1, `duplicate name '${key}'`);
    last = { value: line.slice(split + 1).trim(), line: index + 1 };
    section.set(key, last);
  }
  return sections;
}

// ---- TOML (the subset configuration files use: everything but dates as values of interest) ----

/** Non-enumerable on each table: key → 1-based line of its definition. */
const LINES: unique symbol = Symbol('lines');

export type TomlValue = string | number | bigint | boolean | TomlValue[] | TomlTable;
export interface TomlTable { [key: string]: TomlValue; [LINES]?: Map<string, number> }

function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseToml(text: string): TomlTable {
  return new TomlParser(text).document();
}

class TomlParser {
  private at = 0;
  private line = 1;
  private readonly root: TomlTable = newTable();

  constructor(private readonly text: string) {}

  document(): TomlTable {
    let table = this.root;
    for (;;) {
      this.skipBlank(true);
      if (this.at >= this.text.length) return this.root;
      if (this.text[this.at] === '[') {
        const arrayOfTables = this.text.startsWith('[[', this.at);
        this.at += arrayOfTables ? 2 : 1;
        const keys = this.keyPath();
        this.expect(arrayOfTables ? ']]' : ']');
        table = this.openTable(keys, arrayOfTables);
      } else {
        const keys = this.keyPath();
        this.skipSpaces();
        this.expect('=');
        this.skipSpaces();
        const line = this.line;
        this.assign(table, keys, this.value(), line);
      }
      this.endOfLine();
    }
  }

  private openTable(keys: string[], arrayOfTables: boolean): TomlTable {
    let table = this.root;
    keys.forEach((key, i) => {
      const last = i === keys.length - 1;
      let next = table[key];
      if (last && arrayOfTables) {
        if (next === undefined) table[key] = next = [];
        if (!Array.isArray(next)) throw this.error(`${key} is not an array of tables`);
        const entry = newTable();
        next.push(entry);
        table = entry;
        return;
      }
      if (next === undefined) {
        table[key] = next = newTable();
        lineMap(table).set(key, this.line);
      }
      if (Array.isArray(next)) next = next[next.length - 1];
      if (!isTable(next)) throw this.error(`${key} is not a table`);
      table = next;
    });
    return table;
  }

  private assign(table: TomlTable, keys: string[], value: TomlValue, line: number): void {
    let target = table;
    for (const key of keys.slice(0, -1)) {
      let next = target[key];
      if (next === undefined) target[key] = next = newTable();
      if (!isTable(next)) throw this.error(`${key} is not a table`);
      target = next;
    }
    const key = keys[keys.length - 1];
    if (key in target) throw this.error(`${key} is defined twice`);
    target[key] = value;
    lineMap(target).set(key, line);
  }

  private keyPath(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const ch = this.text[this.at];
      if (ch === '"' || ch === "'") {
        keys.push(this.string());
      } else {
        const match = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.at, this.at + 256));
        if (!match) throw this.error('a key was expected');
        keys.push(match[0]);
        this.at += match[0].length;
      }
      this.skipSpaces();
      if (this.text[this.at] !== '.') return keys;
      this.at++;
    }
  }

  private value(): TomlValue {
    const ch = this.text[this.at];
    if (ch === '"' || ch === "'") return this.string();
    if (ch === '[') return this.array();
    if (ch === '{') return this.inlineTable();
    const match = /^[^\s,\]}#]+/.exec(this.text.slice(this.at, this.at + 256));
    if (!match) throw this.error('a value was expected');
    this.at += match[0].length;
    return scalar(match[0]);
  }

  private array(): TomlValue[] {
    this.at++;
    const items: TomlValue[] = [];
    for (;;) {
      this.skipBlank(true);
      if (this.text[this.at] === ']') {
        this.at++;
        return items;
      }
      items.push(this.value());
      this.skipBlank(true);
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== ']') throw this.error('expected , or ] in an array');
    }
  }

  private inlineTable(): TomlTable {
    this.at++;
    const table = newTable();
    this.skipSpaces();
    if (this.text[this.at] === '}') {
      this.at++;
      return table;
    }
    for (;;) {
      const keys = this.keyPath();
      this.expect('=');
      this.skipSpaces();
      this.assign(table, keys, this.value(), this.line);
      this.skipSpaces();
      if (this.text[this.at] === '}') {
        this.at++;
        return table;
      }
      this.expect(',');
    }
  }

  private string(): string {
    const quote = this.text[this.at];
    const multi = this.text.startsWith(quote.repeat(3), this.at);
    const delimiter = multi ? quote.repeat(3) : quote;
    this.at += delimiter.length;
    // A newline right after the opening delimiter of a multi-line string is dropped.
    if (multi && this.text[this.at] === '\n') { this.at++; this.line++; }
    else if (multi && this.text.startsWith('\r\n', this.at)) { this.at += 2; this.line++; }
    let out = '';
    for (;;) {
      if (this.at >= this.text.length) throw this.error('unterminated string');
      if (this.text.startsWith(delimiter, this.at)) {
        // Up to two quotes right before the closing delimiter belong to the string.
        let end = this.at + delimiter.length;
        while (multi && this.text[end] === quote && end - this.at < 5) end++;
        out += quote.repeat(end - this.at - delimiter.length);
        this.at = end;
        return out;
      }
      const ch = this.text[this.at];
      if (ch === '\n') {
        if (!multi) throw this.error('newline in a string');
        this.line++;
      }
      if (ch === '\\' && quote === '"') {
        out += this.escape(multi);
        continue;
      }
      out += ch;
      this.at++;
    }
  }

  private escape(multi: boolean): string {
    const next = this.text[this.at + 1];
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };
    if (simple[next] !== undefined) {
      this.at += 2;
      return simple[next];
    }
    if (next === 'u' || next === 'U' || next === 'x') {
      const length = next === 'u' ? 4 : next === 'U' ? 8 : 2;
      const hex = this.text.slice(this.at + 2, this.at + 2 + length);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length) throw this.error('bad unicode escape');
      this.at += 2 + length;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    if (multi && /[ \t\r\n]/.test(next)) {
      // A line-ending backslash trims the newline and the whitespace after it.
      this.at++;
      while (this.at < this.text.length && /[ \t\r\n]/.test(this.text[this.at])) {
        if (this.text[this.at] === '\n') this.line++;
        this.at++;
      }
      return '';
    }
    throw this.error(`bad escape \\${next}`);
  }

  /** Whitespace, comments and (with newlines) line breaks. */
  private skipBlank(newlines: boolean): void {
    for (;;) {
      this.skipSpaces();
      const ch = this.text[this.at];
      if (ch === '#') {
        while (this.at < this.text.length && this.text[this.at] !== '\n') this.at++;
      } else if (newlines && (ch === '\n' || ch === '\r')) {
        if (ch === '\n') this.line++;
        this.at++;
      } else {
        return;
      }
    }
  }

  private skipSpaces(): void {
    while (this.text[this.at] === ' ' || this.text[this.at] === '\t') this.at++;
  }

  private endOfLine(): void {
    this.skipBlank(false);
    if (this.at < this.text.length && this.text[this.at] !== '\n' && this.text[this.at] !== '\r') throw this.error('expected the end of the line');
  }

  private expect(token: string): void {
    this.skipSpaces();
    if (!this.text.startsWith(token, this.at)) throw this.error(`expected ${token}`);
    this.at += token.length;
  }

  private error(message: string): ConfigSyntaxError {
    return new ConfigSyntaxError(this.line, message);
  }
}

function newTable(): TomlTable {
  const table: TomlTable = {};
  Object.defineProperty(table, LINES, { value: new Map<string, number>(), enumerable: false });
  return table;
}

function lineMap(table: TomlTable): Map<string, number> {
  return table[LINES]!;
}

function scalar(token: string): TomlValue {
  if (token === 'true') return true;
  if (token === 'false') return false;
  const plain = token.replace(/_/g, '');
  if (/^[+-]?(0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+|\d+)$/.test(plain)) {
    const negative = plain.startsWith('-');
    const digits = plain.replace(/^[+-]/, '');
    const value = BigInt(digits);
    return negative ? -value : value;
  }
  if (/^[+-]?(inf|nan)$/.test(plain)) return plain.includes('nan') ? NaN : plain.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(plain)) return Number(plain);
  // Dates and times: kept as written.
  return token;
}
