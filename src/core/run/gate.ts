// Starting a launch ahead of its slots. When a running launch has less work left than a launch takes to
// start up, the launch that will take its slots starts now: its ranks start the launcher, import Python,
// pytest and MPI and collect, beside the ending launch, then wait (distest_frames.hello) until their gate
// exists, which happens when every launch they wait for has ended. The start-up is off the critical path;
// no slot ever runs tests of two launches. Gates are files on this machine, so only a local allocation
// starts launches ahead.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The variable naming a launch's gate file for its ranks (read by agent/distest_frames.py). */
export const GATE_VARIABLE = 'DISTEST_GATE';

export class LaunchGate {
  readonly opened: Promise<void>;
  private openNow!: () => void;
  private opens = false;

  constructor(
    /** The file whose existence lets the ranks run their tests. */
    readonly path: string,
    /** Keys of the launches still holding this launch's slots. */
    readonly waitsOn: Set<number>,
  ) {
    this.opened = new Promise(resolve => { this.openNow = resolve; });
  }

  get isOpen(): boolean {
    return this.opens;
  }

  /** Lets the ranks go (creates the file); once. */
  open(): void {
    if (this.opens) return;
    this.opens = true;
    fs.writeFileSync(this.path, '');
    this.openNow();
  }
}

/** A run's gates, in a folder of their own that `dispose` removes. */
export class LaunchGates {
  private folder?: string;
  private readonly gates: LaunchGate[] = [];

  /** A closed gate that opens once every launch in `waitsOn` has ended. */
  create(waitsOn: Iterable<number>): LaunchGate {
    this.folder ??= fs.mkdtempSync(path.join(os.tmpdir(), 'distest-gates-'));
    const gate = new LaunchGate(path.join(this.folder, String(this.gates.length + 1)), new Set(waitsOn));
    this.gates.push(gate);
    if (!gate.waitsOn.size) gate.open();
    return gate;
  }

  /** A launch ended: opens the gates it was the last to hold. */
  ended(key: number): void {
    for (const gate of this.gates) {
      if (gate.waitsOn.delete(key) && !gate.waitsOn.size) gate.open();
    }
  }

  dispose(): void {
    if (this.folder) fs.rmSync(this.folder, { recursive: true, force: true });
    this.folder = undefined;
  }
}
