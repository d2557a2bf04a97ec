// The studies of a workspace, newest last, as one JSON file: bounded in count and, per study, in the
// text of failing iterations, so a long flaky-test hunt does not grow it without end.
import fs from 'node:fs';
import path from 'node:path';
import type { Study } from './study';

export const DEFAULT_KEEP_STUDIES = 50;
/** Failing iterations whose messages and stacks are stored per repeat study (the groups name them all). */
const MAX_KEPT_FAILURES = 20;
const MAX_MESSAGE_CHARS = 4000;

export interface StoredStudy { key: string; study: Study }

/** A study trimmed for storage: passed iterations keep their times only. */
export function trimStudy(study: Study): Study {
  if (study.kind !== 'repeat') return study;
  let kept = 0;
  return {
    ...study,
    runs: study.runs.map(r => {
      if (r.state === 'passed' || kept++ >= MAX_KEPT_FAILURES) return { ...r, messages: [], faults: [] };
      return { ...r, messages: r.messages.map(m => ({ ...m, text: m.text.length > MAX_MESSAGE_CHARS ? `${m.text.slice(0, MAX_MESSAGE_CHARS)}…` : m.text })) };
    }),
  };
}

export class StudyHistory {
  constructor(readonly file: string, private readonly keep = DEFAULT_KEEP_STUDIES) {}

  list(): StoredStudy[] {
    try {
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(raw)) return [];
      return raw.filter((e): e is StoredStudy => typeof e === 'object' && e !== null && typeof (e as StoredStudy).key === 'string' && typeof (e as StoredStudy).study?.kind === 'string');
    } catch {
      return [];
    }
  }

  /** Stores `study` and drops the oldest beyond the bound; returns its key. */
  add(study: Study): string {
    const list = this.list();
    const key = `${study.startedAt}#${list.length ? Number(list[list.length - 1].key.split('#')[1] ?? 0) + 1 : 1}`;
    list.push({ key, study: trimStudy(study) });
    this.write(list.slice(-this.keep));
    return key;
  }

  get(key: string): Study | undefined {
    return this.list().find(e => e.key === key)?.study;
  }

  /**
   * The newest stored study of the same kind and test before `key` (for "compare with the last study"):
   * for a scale study, also of the same mode (weak times are not comparable with strong ones).
   */
  previous(study: Study, key?: string): Study | undefined {
    const list = this.list();
    const end = key ? list.findIndex(e => e.key === key) : list.length;
    const weak = (s: Study) => (s.kind === 'scale' ? s.weak : undefined);
    return list.slice(0, end < 0 ? list.length : end).reverse().find(e => e.study.kind === study.kind && e.study.id === study.id && weak(e.study) === weak(study))?.study;
  }

  remove(key: string): void {
    this.write(this.list().filter(e => e.key !== key));
  }

  private write(list: StoredStudy[]): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(list));
    fs.renameSync(tmp, this.file);
  }
}
