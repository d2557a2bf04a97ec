import type { Host } from './host';
import { LocalHost } from './local';
import { SshHost, type SshHostOptions } from './ssh/sshHost';

/**
 * One Host per ssh_config alias, opened on first use and kept (one multiplexed connection each), with
 * this machine as `undefined`. The CLI and the editor differ only in how SshHost asks the user.
 */
export class HostPool {
  private readonly local = new LocalHost();
  private readonly remote = new Map<string, SshHost>();

  constructor(private readonly sshOptions: SshHostOptions) {}

  readonly open = (alias: string | undefined): Host => {
    if (alias === undefined) return this.local;
    let host = this.remote.get(alias);
    if (!host) this.remote.set(alias, (host = new SshHost(alias, this.sshOptions)));
    return host;
  };

  /** Lets hosts refused earlier (host key, login) be tried again: the editor's next run asks anew. */
  forgetRefusals(): void {
    for (const host of this.remote.values()) host.forgetRefusal();
  }

  dispose(): void {
    for (const host of this.remote.values()) host.dispose();
    this.remote.clear();
  }
}
