// The Debug Adapter Protocol's wire format (`Content-Length: N\r\n\r\n<N bytes of JSON>`), read off a
// byte stream that is relayed unchanged, and what a stream of messages says about whether the debuggee
// is paused.

export interface DapMessage {
  seq?: number;
  type?: string;
  command?: string;
  event?: string;
  body?: Record<string, unknown>;
  arguments?: Record<string, unknown>;
  [key: string]: unknown;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** Cuts DAP messages out of chunks as they arrive. A malformed header ends the reading (bytes still flow). */
export class DapReader {
  private pending: Buffer = Buffer.alloc(0);
  private broken = false;

  constructor(private readonly onMessage: (message: DapMessage) => void) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const end = this.pending.indexOf(HEADER_END);
      if (end < 0) {
        if (this.pending.length > 8192) this.broken = true;
        return;
      }
      const header = this.pending.subarray(0, end).toString('latin1');
      const length = /(?:^|\r\n)Content-Length:\s*(\d+)/i.exec(header);
      if (!length) {
        this.broken = true;
        return;
      }
      const start = end + HEADER_END.length;
      const stop = start + Number(length[1]);
      if (this.pending.length < stop) return;
      const body = this.pending.subarray(start, stop).toString('utf8');
      this.pending = this.pending.subarray(stop);
      let message: DapMessage;
      try {
        message = JSON.parse(body) as DapMessage;
      } catch {
        continue;
      }
      this.onMessage(message);
    }
  }
}

/** Encodes one message as the wire wants it. */
export function encodeDap(message: DapMessage): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

/** Requests that let a stopped debuggee run again (all of its threads, as debugpy resumes them). */
const RESUMING = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto', 'disconnect', 'terminate']);

/**
 * Whether one debuggee is paused, from the messages between its client and its adapter: a `stopped`
 * event pauses it (a thread, or all), a `continued` event, a resuming request, `terminated`, `exited`
 * or the connection's end lets it run.
 */
export class PauseTracker {
  private readonly stopped = new Set<number | 'all'>();

  constructor(private readonly onChange: (paused: boolean) => void) {}

  get paused(): boolean {
    return this.stopped.size > 0;
  }

  fromClient(message: DapMessage): void {
    if (message.type === 'request' && message.command && RESUMING.has(message.command)) this.clear();
  }

  fromAdapter(message: DapMessage): void {
    if (message.type !== 'event') return;
    const body = message.body ?? {};
    const thread = typeof body.threadId === 'number' ? body.threadId : 'all';
    if (message.event === 'stopped') {
      this.change(() => this.stopped.add(body.allThreadsStopped === true ? 'all' : thread));
    } else if (message.event === 'continued') {
      if (body.allThreadsContinued === false && thread !== 'all') this.change(() => this.stopped.delete(thread));
      else this.clear();
    } else if (message.event === 'terminated' || message.event === 'exited') {
      this.clear();
    }
  }

  clear(): void {
    this.change(() => this.stopped.clear());
  }

  private change(update: () => void): void {
    const before = this.paused;
    update();
    if (this.paused !== before) this.onChange(this.paused);
  }
}
