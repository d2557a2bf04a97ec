// One launch of a Debug run, as core sees it: each debugged rank's `listening` record becomes a relay
// port on this machine (DebugEndpoint), the ranks' waits and pauses hold the launch's timeouts, and a
// rank that cannot start its debugger ends the launch with the reason. Closed when the launch ends.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Allocation } from '../allocation/allocation';
import type { AllocationNodes } from '../allocation/nodes';
import type { ProjectPaths } from '../projectPaths';
import type { Host, PortForward } from '../transport/host';
import { RelayedNode } from '../transport/relay';
import type { RankDebug } from '../types';
import { startBridge, type Bridge } from './bridge';
import { DapRelay } from './relay';
import type { DebugEndpoint, DebugRequest } from './request';

export interface DebugLaunchOptions {
  launchId: string;
  testIds: string[];
  request: DebugRequest;
  alloc: Allocation;
  nodes: AllocationNodes;
  paths: ProjectPaths;
  /** For the bridges distest starts on the launching host (DISTEST_RUN_ID, so the sweep knows them). */
  env: Record<string, string>;
  endpoint(endpoint: DebugEndpoint): void;
  ended(launchId: string): void;
  note(text: string): void;
  /** Stops the launch's clocks while `reason` holds (a rank waits for its client, or is paused). */
  hold(reason: string): void;
  release(reason: string): void;
  /** A rank cannot be debugged: the launch ends with this reason for its tests. */
  fail(reason: string): void;
}

export class DebugLaunch {
  private readonly relays: DapRelay[] = [];
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly holds = new Set<string>();
  private endpoints = 0;
  private closed = false;

  constructor(private readonly opts: DebugLaunchOptions) {}

  record(r: RankDebug): void {
    if (this.closed) return;
    switch (r.event) {
      case 'error':
        this.opts.fail(r.message ?? `rank ${r.rank} on ${r.host} could not start its debugger`);
        return;
      case 'listening':
        if (r.port !== undefined) void this.listening(r, r.port);
        return;
      case 'attached':
      case 'unattended':
        this.release(`wait:${r.rank}`);
        if (r.event === 'unattended') this.opts.note(`rank ${r.rank} on ${r.host}: no debugger attached within ${this.opts.request.waitSeconds} s; it runs on without one`);
    }
  }

  private async listening(r: RankDebug, port: number): Promise<void> {
    this.hold(`wait:${r.rank}`);
    const upstream = this.upstream(r.host, port);
    upstream.catch(() => undefined);
    const relay = await DapRelay.open({
      connect: async () => (await upstream)(),
      paused: paused => (paused ? this.hold(`pause:${r.rank}`) : this.release(`pause:${r.rank}`)),
      problem: text => this.opts.note(`rank ${r.rank} on ${r.host}: ${text}`),
    });
    if (this.closed) {
      await relay.close();
      return;
    }
    this.relays.push(relay);
    this.endpoints++;
    const { paths } = this.opts;
    this.opts.endpoint({
      launchId: this.opts.launchId,
      testIds: this.opts.testIds,
      rank: r.rank,
      size: r.size,
      node: r.host,
      host: '127.0.0.1',
      port: relay.port,
      pid: r.pid,
      pathMappings: [{ localRoot: paths.localPath(paths.runRoot), remoteRoot: paths.runRoot }],
      breakOnFailure: this.opts.request.breakOnFailure,
    });
  }

  /**
   * How this machine opens a connection to `port` on the loopback of the node named `node`, prepared
   * now (a forward, a bridge) so that a client's connect costs one hop.
   */
  private async upstream(node: string, port: number): Promise<() => Promise<Duplex>> {
    const { alloc } = this.opts;
    const runner = await this.opts.nodes.of(node);
    if (runner === alloc.host) return this.reach(alloc.host, port);
    if (!(runner instanceof RelayedNode)) throw new Error(`no way to reach ${node}`);
    const bridge: Bridge = await startBridge(alloc.host, alloc.python, argv => runner.command(argv), port, this.opts.env);
    this.cleanups.push(() => bridge.proc.kill());
    if (this.closed) await bridge.proc.kill();
    return this.reach(alloc.host, bridge.port);
  }

  /** A port on the launching host's loopback, from here: itself when local, else an ssh forward of it. */
  private async reach(host: Host, port: number): Promise<() => Promise<Duplex>> {
    if (!host.forwardPort) return () => connectLoopback(port);
    const forward: PortForward = await host.forwardPort(port);
    this.cleanups.push(() => forward.close());
    return () => connectLoopback(forward.localPort);
  }

  private hold(reason: string): void {
    if (this.closed || this.holds.has(reason)) return;
    this.holds.add(reason);
    this.opts.hold(reason);
  }

  private release(reason: string): void {
    if (!this.holds.delete(reason)) return;
    this.opts.release(reason);
  }

  /** The launch is over: relays, forwards and bridges closed, clocks released, `ended` told. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.relays.map(relay => relay.close()));
    await Promise.all(this.cleanups.map(cleanup => cleanup().catch(() => undefined)));
    for (const reason of [...this.holds]) this.release(reason);
    if (this.endpoints > 0) this.opts.ended(this.opts.launchId);
  }
}

function connectLoopback(port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
