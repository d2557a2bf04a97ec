// File names are bytes; distest's paths and test ids are strings. A name that is not valid UTF-8 is
// kept the way Python keeps it (os.fsdecode, "surrogateescape"): each byte that is not part of a valid
// UTF-8 sequence becomes the lone surrogate U+DC80..U+DCFF. The string is then the very id pytest
// reports, and turns back into the same bytes for the file system.
import { isUtf8 } from 'node:buffer';

const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const ESCAPED_BYTES = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g;

/** Bytes of a file name → its string, undecodable bytes escaped as Python's surrogateescape does. */
export function decodeFsName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const length = utf8SequenceLength(bytes, i);
    if (length) text += bytes.toString('utf8', i, i + length);
    else text += String.fromCharCode(0xdc00 + bytes[i]);
    i += length || 1;
  }
  return text;
}

/** The length of the valid UTF-8 sequence starting at `i` (RFC 3629: no overlongs, no surrogates), else 0. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const lead = b[i];
  const continuation = (k: number, low = 0x80, high = 0xbf) => i + k < b.length && b[i + k] >= low && b[i + k] <= high;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const [low, high] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const [low, high] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

/** Whether a path or id holds bytes of a file name that is not valid UTF-8. */
export function hasEscapedBytes(text: string): boolean {
  return ESCAPED_BYTE.test(text);
}

/** The file system's form of a path: the string itself, or its original bytes when it holds escaped ones. */
export function fsPath(text: string): string | Buffer {
  return hasEscapedBytes(text) ? encodeFsName(text) : text;
}

/** The bytes a (surrogate-escaped) string stands for. */
export function encodeFsName(text: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(ESCAPED_BYTES)) {
    const at = match.index ?? 0;
    parts.push(Buffer.from(text.slice(last, at), 'utf8'), Buffer.from([match[0].charCodeAt(0) - 0xdc00]));
    last = at + 1;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** How a name reads in a message: escaped bytes as `\xff`. */
export function printableFsName(text: string): string {
  return text.replace(ESCAPED_BYTES, c => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16).padStart(2, '0')}`);
}

/** What a string with escaped bytes looks like after a trip through a UTF-8 decoder (Node's argv, a terminal). */
export function lossyFsName(text: string): string {
  return hasEscapedBytes(text) ? encodeFsName(text).toString('utf8') : text;
}

/**
 * Node can only put UTF-8 into argv, so an argument holding escaped bytes travels percent-encoded behind
 * this prefix; the agent's sitecustomize turns it back into the name (agent/sitecustomize.py).
 */
export const FS_NAME_ARGUMENT_PREFIX = 'distest-fsname:';

/** An argument for a rank's Python: the text itself, or its percent-encoded bytes behind FS_NAME_ARGUMENT_PREFIX. */
export function pythonArgument(text: string): string {
  if (!hasEscapedBytes(text)) return text;
  const encoded = [...encodeFsName(text)].map(b => (b === 0x25 || b >= 0x80 || b < 0x20 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b))).join('');
  return `${FS_NAME_ARGUMENT_PREFIX}${encoded}`;
}
