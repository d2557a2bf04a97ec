// Per-test durations of earlier runs, kept per workspace like pytest's cache: `<folder>/.distest/durations.json`
// (a `.gitignore` of `*` beside it), shared by the CLI and the editor, read before a run to order and
// split its launches (schedule.ts), merged after it. Written whole to a temporary file and renamed, so a
// concurrent run reads the old or the new file, never half of one; a file that cannot be read or written
// only loses the estimates.
import fs from 'node:fs';
import path from 'node:path';
import type { TestResult } from '../types';

const FORMAT = 1;
/** Entries kept; the least recently run go first. */
const MAX_ENTRIES = 20_000;

export function durationsFile(folder: string): string {
  return path.join(folder, '.distest', 'durations.json');
}

/** Test id → milliseconds (the slowest rank's time in its last run that reached it). */
export function readDurations(file: string): Map<string, number> {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { format?: unknown; tests?: unknown };
    if (parsed.format !== FORMAT || typeof parsed.tests !== 'object' || parsed.tests === null) return new Map();
    return new Map(Object.entries(parsed.tests as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] >= 0));
  } catch {
    return new Map();
  }
}

/** Merges the timed results (passed or failed: a test body ran) into the file. Never throws. */
export function recordDurations(file: string, results: TestResult[]): void {
  const timed = results.filter(r => (r.state === 'passed' || r.state === 'failed') && r.durationMs > 0);
  if (!timed.length) return;
  try {
    const durations = readDurations(file);
    for (const r of timed) {
      durations.delete(r.id);
      durations.set(r.id, Math.round(r.durationMs));
    }
    const entries = [...durations].slice(-MAX_ENTRIES);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const ignore = path.join(path.dirname(file), '.gitignore');
    if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, '# created by distest\n*\n');
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ format: FORMAT, tests: Object.fromEntries(entries) }));
    fs.renameSync(tmp, file);
  } catch {
    // A read-only folder: the next run orders its launches without estimates.
  }
}
