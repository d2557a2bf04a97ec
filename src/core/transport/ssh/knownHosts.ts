// OpenSSH known_hosts, read and appended the way ssh(1) does: plain and hashed (`|1|salt|hash`) host
// patterns, `[host]:port` for non-22 ports, `!negation` and wildcards, the @revoked marker. An unknown
// key is never accepted here: the caller asks the user and calls appendKnownHost only on approval.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  /** The host is listed with another key of the same type: someone may be in the middle. */
  | { status: 'changed'; file: string; line: number }
  /**
   * The host is listed only with keys of other types, although the handshake asked for those types
   * first: a server that no longer has them is as suspect as a changed key (`knownTypes`, first line).
   */
  | { status: 'otherType'; file: string; line: number; knownTypes: string[] }
  | { status: 'revoked'; file: string; line: number };

interface KnownHostEntry { file: string; line: number; marker?: string; patterns: string; keyType: string; keyBase64: string }

/** The name a host has in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named inside an SSH wire-format public key blob (its first string). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error('host key blob too short');
  const len = keyBlob.readUInt32BE(0);
  if (len > keyBlob.length - 4) throw new Error('malformed host key blob');
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:<base64 without padding>`, as OpenSSH prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function readEntries(file: string): KnownHostEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) return;
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) return;
    entries.push({ file, line: index + 1, marker, patterns: fields[0], keyType: fields[1], keyBase64: fields[2] });
  });
  return entries;
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, magic, salt64, hash64] = pattern.split('|');
  if (magic !== '1' || !salt64 || !hash64) return false;
  const digest = crypto.createHmac('sha1', Buffer.from(salt64, 'base64')).update(name).digest('base64');
  return digest === hash64;
}

function patternListMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatches(patterns, name);
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (hostPatternMatches(glob, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH host patterns know only `*` and `?`, case-insensitively; brackets are literal (`[host]:port`). */
export function hostPatternMatches(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'i').test(name);
}

function entriesFor(files: string[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostName(host, port);
  return files.flatMap(readEntries).filter(e => e.marker !== '@cert-authority' && patternListMatches(e.patterns, name));
}

export function checkHostKey(files: string[], host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const keyType = keyTypeOf(keyBlob);
  const keyBase64 = keyBlob.toString('base64');
  const entries = entriesFor(files, host, port);
  const revoked = entries.find(e => e.marker === '@revoked' && e.keyBase64 === keyBase64);
  if (revoked) return { status: 'revoked', file: revoked.file, line: revoked.line };
  const plain = entries.filter(e => e.marker === undefined);
  if (plain.some(e => e.keyType === keyType && e.keyBase64 === keyBase64)) return { status: 'known' };
  const other = plain.find(e => e.keyType === keyType);
  if (other) return { status: 'changed', file: other.file, line: other.line };
  if (plain.length) return { status: 'otherType', file: plain[0].file, line: plain[0].line, knownTypes: [...new Set(plain.map(e => e.keyType))] };
  return { status: 'unknown' };
}

/** Key types already on record for the host, so the handshake can prefer them (as ssh(1) does). */
export function knownKeyTypes(files: string[], host: string, port: number): string[] {
  return [...new Set(entriesFor(files, host, port).filter(e => e.marker === undefined).map(e => e.keyType))];
}

export function appendKnownHost(file: string, host: string, port: number, keyBlob: Buffer, hashed: boolean): void {
  const name = knownHostName(host, port);
  let patterns = name;
  if (hashed) {
    const salt = crypto.randomBytes(20);
    patterns = `|1|${salt.toString('base64')}|${crypto.createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = fs.readFileSync(file, 'utf8');
    if (existing && !existing.endsWith('\n')) prefix = '\n';
  } catch {
    // A new file.
  }
  fs.appendFileSync(file, `${prefix}${patterns} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
}

/** Why a host key is refused, in OpenSSH's words where it has them, naming the known_hosts line. */
export function refusedHostKeyMessage(host: string, port: number, keyBlob: Buffer, verdict: Extract<HostKeyVerdict, { file: string }>): string {
  const name = knownHostName(host, port);
  const offered = `The server offered ${keyTypeOf(keyBlob)} ${fingerprintSha256(keyBlob)}`;
  const where = `${verdict.file}:${verdict.line}`;
  const changed = `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${name}! Someone could be eavesdropping on you right now (man-in-the-middle), or the host key has just been changed.`;
  switch (verdict.status) {
    case 'revoked':
      return `The host key of ${name} is marked @revoked in ${where}. ${offered}. Refusing to connect.`;
    case 'changed':
      return `${changed} ${offered}. Offending key in ${where}. Remove that line if the change is expected. Refusing to connect.`;
    case 'otherType':
      return `${changed} ${offered}, but known_hosts has only ${verdict.knownTypes.join(', ')} for it (${where}), and the server did not offer ` +
        `${verdict.knownTypes.length === 1 ? 'that type' : 'those types'} when asked for ${verdict.knownTypes.length === 1 ? 'it' : 'them'} first. ` +
        'Remove those lines if the host\'s keys were replaced. Refusing to connect.';
  }
}
