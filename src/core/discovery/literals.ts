// Python literal tokens → values, and values → the text pytest puts in a parametrize id. The rules follow
// pytest's IdMaker (_idval_from_value, ascii_escaped) and CPython's str() of numbers.

/** A string or bytes literal's value; bytes are held as a latin-1 string (one char per byte). */
export type StringValue = { kind: 'str' | 'bytes'; value: string };

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

/**
 * Decodes one string token (prefix, quotes and body, as the source spells it). Returns undefined when
 * the value is only known at run time (an f-string with a replacement field, a `\N{...}` escape).
 */
export function decodeStringLiteral(token: string): StringValue | undefined {
  const quoteAt = token.search(/['"]/);
  if (quoteAt < 0) return undefined;
  const prefix = token.slice(0, quoteAt).toLowerCase();
  const quote = token.startsWith(token[quoteAt].repeat(3), quoteAt) ? token[quoteAt].repeat(3) : token[quoteAt];
  if (!token.endsWith(quote) || token.length < quoteAt + 2 * quote.length) return undefined;
  let body = token.slice(quoteAt + quote.length, token.length - quote.length);
  const kind = prefix.includes('b') ? 'bytes' : 'str';
  if (prefix.includes('f')) {
    if (body.replace(/\{\{|\}\}/g, '').includes('{')) return undefined;
    body = body.replace(/\{\{/g, '{').replace(/\}\}/g, '}');
  }
  if (prefix.includes('r')) return { kind, value: body };
  let value = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\' || i + 1 >= body.length) { value += ch; continue; }
    const next = body[++i];
    if (next === '\n') continue;
    if (next === '\r') { if (body[i + 1] === '\n') i++; continue; }
    if (SIMPLE_ESCAPES[next] !== undefined) { value += SIMPLE_ESCAPES[next]; continue; }
    if (next >= '0' && next <= '7') {
      let digits = next;
      while (digits.length < 3 && body[i + 1] >= '0' && body[i + 1] <= '7') digits += body[++i];
      value += String.fromCodePoint(parseInt(digits, 8));
      continue;
    }
    const hexLength = next === 'x' ? 2 : kind === 'str' && next === 'u' ? 4 : kind === 'str' && next === 'U' ? 8 : 0;
    if (hexLength) {
      const hex = body.slice(i + 1, i + 1 + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) return undefined;
      value += String.fromCodePoint(parseInt(hex, 16));
      i += hexLength;
      continue;
    }
    if (kind === 'str' && next === 'N') return undefined;
    value += '\\' + next;
  }
  return { kind, value };
}

/** Python's int() of an integer token: decimal/hex/octal/binary with underscores. */
export function parseIntLiteral(token: string): bigint | undefined {
  try {
    return BigInt(token.replace(/_/g, '').toLowerCase());
  } catch {
    return undefined;
  }
}

/** CPython's repr()/str() of a float: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mantissa, exponentText] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const fraction = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const magnitude = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${fraction}e${exponent < 0 ? '-' : '+'}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
}

/** CPython's str() of an imaginary literal like `2j` or `1.5e3j`, or undefined if not one. */
export function imaginaryRepr(token: string): string | undefined {
  if (!/[jJ]$/.test(token)) return undefined;
  const magnitude = Number(token.slice(0, -1).replace(/_/g, ''));
  if (Number.isNaN(magnitude)) return undefined;
  // complex.__repr__ drops the `.0` that float repr keeps for whole numbers.
  return `${pyFloatRepr(magnitude).replace(/\.0(?=$|e)/, '')}j`;
}

/**
 * CPython's textwrap.dedent: lines of blanks emptied, then the spaces and tabs every other line starts with
 * removed. Undefined for text with other whitespace (`\r`, `\f`, Unicode spaces), whose blank lines
 * Python 3.14 empties and earlier versions keep.
 */
export function pyDedent(text: string): string | undefined {
  if (hasOtherWhitespace(text)) return undefined;
  const lines = text.split('\n').map(line => (/^[ \t]+$/.test(line) ? '' : line));
  let margin: string | undefined;
  for (const line of lines) {
    if (!line) continue;
    const indent = /^[ \t]*/.exec(line)![0];
    if (margin === undefined || margin.startsWith(indent)) margin = indent;
    else if (!indent.startsWith(margin)) {
      let common = 0;
      while (margin[common] === indent[common]) common++;
      margin = margin.slice(0, common);
    }
  }
  return margin ? lines.map(line => (line.startsWith(margin) ? line.slice(margin.length) : line)).join('\n') : lines.join('\n');
}

/** Whitespace for Python's str.isspace() other than spaces, tabs and newlines. */
function hasOtherWhitespace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code >= 0x1c && code <= 0x1f) || code === 0x85) return true;
  }
  // JavaScript's \s less what Python does not count (U+FEFF).
  return /[^\S \t\n\ufeff]/.test(text);
}

/** pytest's ascii_escaped() of a str: `str.encode('unicode_escape')`. */
export function asciiEscapedStr(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else if (code < 0x100) out += `\\x${hex(code, 2)}`;
    else if (code < 0x10000) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out;
}

/** pytest's ascii_escaped() of bytes: `decode('ascii', 'backslashreplace')`, then control bytes escaped. */
export function asciiEscapedBytes(latin1: string): string {
  let out = '';
  for (const ch of latin1) {
    const code = ch.charCodeAt(0);
    if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else out += `\\x${hex(code, 2)}`;
  }
  return out;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}
