// A loopback port on this machine per debugged rank: one DAP client at a time, relayed byte for byte to
// the rank's debugpy adapter (on its node's loopback: directly, through an ssh forward, or through the
// launching host's bridge), watching the messages for when the rank is paused.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { DapReader, PauseTracker } from './dap';

export interface RelayOptions {
  /** A fresh byte stream to the rank's adapter (debugpy's listen port) for each client. */
  connect(): Promise<Duplex>;
  /** The rank paused (a stopped event) or runs again. */
  paused(paused: boolean): void;
  /** Why a client could not be relayed (the adapter gone, the bridge failed). */
  problem?(text: string): void;
}

export class DapRelay {
  private client?: net.Socket;
  private upstream?: Duplex;
  private readonly sockets = new Set<net.Socket | Duplex>();
  private closed = false;
  private readonly tracker: PauseTracker;

  private constructor(private readonly server: net.Server, private readonly opts: RelayOptions) {
    this.tracker = new PauseTracker(opts.paused);
    server.on('connection', socket => this.accept(socket));
  }

  /** Listens on 127.0.0.1 (never another interface: the adapter takes anyone who connects). */
  static async open(opts: RelayOptions): Promise<DapRelay> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new DapRelay(server, opts);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    if (this.closed || this.client) {
      socket.destroy();
      return;
    }
    this.client = socket;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const fromClient = new DapReader(m => this.tracker.fromClient(m));
    const fromAdapter = new DapReader(m => this.tracker.fromAdapter(m));
    const held: Buffer[] = [];
    const onEarly = (chunk: Buffer) => held.push(chunk);
    socket.on('data', onEarly);
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      socket.destroy();
      this.upstream?.destroy();
      this.upstream = undefined;
      this.client = undefined;
      // Without its client debugpy lets the rank run (attach semantics): no longer paused.
      this.tracker.clear();
    };
    socket.on('close', end);
    socket.on('error', end);
    this.opts.connect().then(up => {
      if (done || this.closed) {
        up.destroy();
        return;
      }
      this.upstream = up;
      this.sockets.add(up);
      if (up instanceof net.Socket) up.setNoDelay(true);
      up.on('close', end);
      up.on('error', err => {
        this.opts.problem?.(`debug relay: ${err.message}`);
        end();
      });
      up.on('data', (chunk: Buffer) => {
        fromAdapter.push(chunk);
        socket.write(chunk);
      });
      socket.off('data', onEarly);
      for (const chunk of held) {
        fromClient.push(chunk);
        up.write(chunk);
      }
      socket.on('data', (chunk: Buffer) => {
        fromClient.push(chunk);
        up.write(chunk);
      });
    }, (err: Error) => {
      this.opts.problem?.(`debug relay: cannot reach the rank's debugger: ${err.message}`);
      end();
    });
  }

  /** Stops listening and drops the client and its adapter connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets) socket.destroy();
    this.tracker.clear();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }
}
