// A small real Debug Adapter Protocol client over a socket, for the tests and benchmarks of Debug runs
// (and the editor side's): connect to an endpoint distest hands out, attach, set breakpoints, wait for
// `stopped`, evaluate, continue. It speaks to debugpy's own adapter through distest's relay.
import net from 'node:net';
import { DapReader, encodeDap, type DapMessage } from '../../src/core/debug/dap';

export type { DapMessage };

interface Waiter { match(m: DapMessage): boolean; resolve(m: DapMessage): void; reject(e: Error): void; timer: NodeJS.Timeout }

export class DapClient {
  private seq = 1;
  private readonly pending = new Map<number, { resolve(m: DapMessage): void; reject(e: Error): void; command: string }>();
  private readonly waiters = new Set<Waiter>();
  /** Every event so far, in order. */
  readonly events: DapMessage[] = [];
  private closedWith?: Error;

  private constructor(private readonly socket: net.Socket) {
    const reader = new DapReader(m => this.dispatch(m));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const closed = (err?: Error) => {
      this.closedWith ??= err ?? new Error('the debug adapter closed the connection');
      for (const p of this.pending.values()) p.reject(new Error(`${p.command}: ${this.closedWith.message}`));
      this.pending.clear();
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.reject(this.closedWith);
      }
      this.waiters.clear();
    };
    socket.on('close', () => closed());
    socket.on('error', err => closed(err));
  }

  static connect(host: string, port: number, timeoutMs = 10_000): Promise<DapClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${host}:${port} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        resolve(new DapClient(socket));
      });
      socket.once('error', err => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private dispatch(m: DapMessage): void {
    if (m.type === 'response' && typeof m.request_seq === 'number') {
      const p = this.pending.get(m.request_seq);
      if (!p) return;
      this.pending.delete(m.request_seq);
      if (m.success) p.resolve(m);
      else p.reject(new Error(`${p.command} failed: ${typeof m.message === 'string' ? m.message : JSON.stringify(m.body)}`));
      return;
    }
    if (m.type === 'event') {
      this.events.push(m);
      for (const w of [...this.waiters]) {
        if (!w.match(m)) continue;
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    } else if (m.type === 'request') {
      // Reverse requests (runInTerminal, startDebugging) are not ours to serve.
      this.socket.write(encodeDap({ seq: this.seq++, type: 'response', request_seq: m.seq, command: m.command, success: false, message: 'not supported' }));
    }
  }

  /** Sends a request; resolves with the response's body, rejects when it fails. */
  async request(command: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return ((await this.send(command, args)).body ?? {}) as Record<string, unknown>;
  }

  /** Sends a request; resolves with the whole response. */
  send(command: string, args?: Record<string, unknown>): Promise<DapMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, command });
      this.socket.write(encodeDap({ seq, type: 'request', command, ...(args ? { arguments: args } : {}) }));
    });
  }

  /** The first event named `event` (already seen after index `from`, or still to come) that `match` accepts. */
  waitEvent(event: string, opts: { match?: (m: DapMessage) => boolean; timeoutMs?: number; from?: number } = {}): Promise<DapMessage> {
    const match = (m: DapMessage) => m.event === event && (opts.match?.(m) ?? true);
    const seen = this.events.slice(opts.from ?? 0).find(match);
    if (seen) return Promise.resolve(seen);
    if (this.closedWith) return Promise.reject(this.closedWith);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${event} event in ${timeoutMs} ms; events: ${this.events.map(e => e.event).join(', ')}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * The attach handshake as VS Code does it with debugpy: initialize, attach, (initialized) breakpoints
   * and exception filters, configurationDone; then the attach response. `breakpoints`: file → lines.
   */
  async attach(opts: { breakpoints?: Record<string, number[]>; exceptionFilters?: string[]; pathMappings?: unknown[] } = {}): Promise<void> {
    await this.request('initialize', {
      clientID: 'distest-test', adapterID: 'debugpy', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true,
      supportsVariableType: true, supportsRunInTerminalRequest: false,
    });
    const initialized = this.waitEvent('initialized');
    const attached = this.send('attach', { justMyCode: true, subProcess: false, ...(opts.pathMappings ? { pathMappings: opts.pathMappings } : {}) });
    attached.catch(() => undefined);
    await initialized;
    for (const [file, lines] of Object.entries(opts.breakpoints ?? {})) {
      await this.request('setBreakpoints', { source: { path: file }, breakpoints: lines.map(line => ({ line })) });
    }
    await this.request('setExceptionBreakpoints', { filters: opts.exceptionFilters ?? [] });
    await this.request('configurationDone');
    await attached;
  }

  /** The top frame of the thread a `stopped` event names. */
  async topFrame(threadId: number): Promise<{ id: number; line: number; name: string; source?: { path?: string } }> {
    const body = await this.request('stackTrace', { threadId, startFrame: 0, levels: 1 });
    const frames = body.stackFrames as { id: number; line: number; name: string; source?: { path?: string } }[];
    return frames[0];
  }

  async evaluate(expression: string, frameId: number): Promise<string> {
    const body = await this.request('evaluate', { expression, frameId, context: 'watch' });
    return String(body.result);
  }

  /** Drops the connection without a disconnect request (a client that died). */
  destroy(): void {
    this.socket.destroy();
  }

  /** A polite end: disconnect (the debuggee runs on), then close. */
  async disconnect(): Promise<void> {
    await this.request('disconnect', { terminateDebuggee: false }).catch(() => undefined);
    this.socket.destroy();
  }
}

/** The endpoint lines of `distest run --debug-endpoints FILE` so far. */
export interface EndpointLine { rank: number; node: string; host: string; port: number; pid: number; launchId: string; size: number; pathMappings: unknown[] }

export function parseEndpointLines(text: string): EndpointLine[] {
  return text.split('\n').filter(line => line.trim().startsWith('{')).map(line => JSON.parse(line) as EndpointLine);
}
