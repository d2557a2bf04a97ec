// mpirun frames what it has to say in banners of dashes (MPICH's Hydra in `=` lines), ten lines for one
// event ("Primary job terminated normally, but 1 process returned a non-zero exit code..."). A test
// report needs the event, not the banner: each banner becomes one line. The rank logs keep the text.
import { describeLauncherFailure, parseLauncherFailure } from './launcherFailure';

const SEPARATOR = /^\s*(?:-{20,}|={20,})\s*$/;
/** A banner longer than this is cut short (its summary says so); the rest is skipped to its end. */
const MAX_BANNER_LINES = 200;
const MAX_SUMMARY_CHARS = 240;

/** Condenses a launcher's own lines (rank null), banner by banner; other lines pass unchanged. */
export class LauncherBanners {
  private banner: string[] | null = null;
  private dropped = 0;

  /** `launcher` names the program in summaries (`mpirun: rank 1 exited with code 4`). */
  constructor(private readonly launcher: string) {}

  /** The lines to show for this one: none while a banner is open, its summary when it closes. */
  push(text: string): string[] {
    if (SEPARATOR.test(text)) {
      if (this.banner === null) {
        this.banner = [];
        return [];
      }
      return this.close();
    }
    if (this.banner === null) return [text];
    if (this.banner.length < MAX_BANNER_LINES) this.banner.push(text);
    else this.dropped++;
    return [];
  }

  /** The summary of a banner the launcher never closed (it was killed mid-way). */
  end(): string[] {
    return this.banner === null ? [] : this.close();
  }

  private close(): string[] {
    const lines = this.banner ?? [];
    this.banner = null;
    const dropped = this.dropped;
    this.dropped = 0;
    const text = lines.join('\n');
    if (!text.trim()) return [];
    const failures = parseLauncherFailure(text);
    if (failures.length) {
      return [`${this.launcher}: ${failures.map(f => `rank ${f.rank}${f.host ? ` on ${f.host}` : ''} ${describeLauncherFailure(f)}`).join('; ')}`];
    }
    let summary = text.replace(/\s+/g, ' ').trim();
    if (summary.length > MAX_SUMMARY_CHARS || dropped) summary = `${summary.slice(0, MAX_SUMMARY_CHARS).trimEnd()}… (full text in the rank logs)`;
    return [`${this.launcher}: ${summary}`];
  }
}
