import { randomBytes } from 'node:crypto';
import type { AgentRecord, Location, Outcome, Phase } from '../types';

/**
 * Records travel inside the ranks' own stdout as lines
 * `@@distest:<token>:<rank>:<msgid>:<index>:<count>:<base64 chunk>` (see src/agent/distest_frames.py):
 * JSON → UTF-8 → base64, cut into chunks of at most 3000 characters, one whole line per write. Output
 * that does not carry this run's token is ordinary output, whatever it looks like.
 */
export const FRAME_PREFIX = '@@distest:';

/** A fresh per-run token (32 hex characters) for the ranks' DISTEST_TOKEN. */
export function newFrameToken(): string {
  return randomBytes(16).toString('hex');
}

/** Longest base64 chunk per frame line, as the agent writes them. */
export const FRAME_CHUNK_CHARS = 3000;

/**
 * The frame lines (with their newlines) the agent writes for one record: the format's reference
 * encoder, for tests and tools that stand in for a rank.
 */
export function encodeRecord(token: string, msgid: number, record: AgentRecord, chunkChars = FRAME_CHUNK_CHARS): string[] {
  const payload = Buffer.from(JSON.stringify(record), 'utf8').toString('base64');
  const count = Math.max(1, Math.ceil(payload.length / chunkChars));
  return Array.from({ length: count }, (_, i) =>
    `${FRAME_PREFIX}${token}:${record.rank}:${msgid}:${i}:${count}:${payload.slice(i * chunkChars, (i + 1) * chunkChars)}\n`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DECIMAL = /^\d{1,9}$/;

interface PendingMessage { msgid: number; count: number; chunks: string[] }

/** Reassembles chunked frames; a rank's chunks of one message arrive in order, one message at a time. */
export class FrameDecoder {
  /** `@@distest:<token>:`, the start of every frame of this run. */
  readonly marker: string;
  private readonly pending = new Map<number, PendingMessage>();
  private abandoned = 0;

  constructor(token: string) {
    if (!/^[A-Za-z0-9]+$/.test(token)) throw new Error(`distest frame token must be alphanumeric, got ${JSON.stringify(token)}`);
    this.marker = `${FRAME_PREFIX}${token}:`;
  }

  /**
   * Feed one line (launcher tags already removed). Returns the record when a frame completes, 'partial'
   * for a chunk of a longer record, 'invalid' for a malformed frame carrying our token (the caller keeps
   * the line as output), and null for ordinary output.
   */
  accept(line: string): AgentRecord | 'partial' | 'invalid' | null {
    if (!line.startsWith(this.marker)) return null;
    const fields = line.slice(this.marker.length).replace(/\r$/, '').split(':');
    if (fields.length !== 5 || !fields.slice(0, 4).every(f => DECIMAL.test(f)) || !BASE64.test(fields[4])) return 'invalid';
    const [rank, msgid, index, count] = fields.slice(0, 4).map(Number);
    const chunk = fields[4];
    if (count < 1 || index >= count) return 'invalid';

    let message = this.pending.get(rank);
    if (index === 0) {
      if (message) this.abandoned++;
      message = { msgid, count, chunks: [] };
      this.pending.set(rank, message);
    } else if (!message || message.msgid !== msgid || message.count !== count || message.chunks.length !== index) {
      if (message) this.abandoned++;
      this.pending.delete(rank);
      return 'invalid';
    }
    message.chunks.push(chunk);
    if (message.chunks.length < count) return 'partial';
    this.pending.delete(rank);
    const record = parseRecord(Buffer.from(message.chunks.join(''), 'base64').toString('utf8'));
    return record && record.rank === rank ? record : 'invalid';
  }

  /** Messages that began but never completed: started and abandoned, plus still open at the call. */
  incompleteMessages(): number {
    return this.abandoned + this.pending.size;
  }
}

const OUTCOMES: readonly Outcome[] = ['passed', 'failed', 'skipped', 'error'];
const PHASES: readonly Phase[] = ['setup', 'call', 'teardown'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
const isRank = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isString = (v: unknown): v is string => typeof v === 'string';
const optional = <T>(v: unknown, check: (x: unknown) => x is T): boolean => v === undefined || check(v);
const isLocation = (v: unknown): v is Location => isObject(v) && isString(v.file) && isRank(v.line);

/** The record in a decoded frame payload, or null when it is not valid JSON of a known record shape. */
export function parseRecord(json: string): AgentRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (!isObject(value) || !isRank(value.rank)) return null;
  switch (value.kind) {
    case 'hello':
      return isRank(value.size) && isString(value.host) && isRank(value.pid) && Array.isArray(value.tests) && value.tests.every(isString)
        ? (value as unknown as AgentRecord) : null;
    case 'start':
      return isString(value.test) ? (value as unknown as AgentRecord) : null;
    case 'bye':
      return value as unknown as AgentRecord;
    case 'result':
      return isRank(value.size) && isString(value.host) && isString(value.test)
        && PHASES.includes(value.phase as Phase) && OUTCOMES.includes(value.outcome as Outcome)
        && typeof value.durationMs === 'number' && value.durationMs >= 0
        && optional(value.location, isLocation) && optional(value.message, isString) && optional(value.text, isString)
        && optional(value.pytestOutcome, v => v === 'xfailed' || v === 'xpassed')
        ? (value as unknown as AgentRecord) : null;
    case 'debug':
      return DEBUG_EVENTS.includes(value.event as string) && isRank(value.size) && isString(value.host) && isRank(value.pid)
        && optional(value.port, isRank) && optional(value.message, isString)
        ? (value as unknown as AgentRecord) : null;
    default:
      return null;
  }
}

const DEBUG_EVENTS: readonly string[] = ['listening', 'attached', 'unattended', 'error'];
