import fs from 'node:fs';
import path from 'node:path';
import type { LauncherTemplate } from './types';

/** The `distest.*` settings the CLI and the editor share, with their defaults filled in. */
export interface DistestSettings {
  /** Python for the ranks; empty means `python3` on PATH. */
  pythonPath: string;
  /** mpirun/mpiexec to use; empty means `mpirun`, then `mpiexec` on PATH. */
  mpiexecPath: string;
  launchers: LauncherTemplate[];
  /** Rank count for tests whose count only the run can decide. */
  mpiDefaultRanks: number;
  local: { oversubscribe: boolean };
  /** Per test unless `@pytest.mark.timeout(S)` says otherwise; 0 means no timeout. */
  timeoutSeconds: number;
  /** No output and no result from any rank for this long is a hang; 0 turns the watchdog off. */
  silenceSeconds: number;
  /** Core files of crashed ranks: raise the core limit, analyse at most `maxPerRun` per run with gdb. */
  cores: { enable: boolean; maxPerRun: number };
  /** Extra pytest arguments on every rank. */
  pytestArgs: string[];
}

export const DEFAULT_SETTINGS: DistestSettings = Object.freeze({
  pythonPath: '',
  mpiexecPath: '',
  launchers: [],
  mpiDefaultRanks: 2,
  local: Object.freeze({ oversubscribe: true }),
  timeoutSeconds: 600,
  silenceSeconds: 0,
  cores: Object.freeze({ enable: true, maxPerRun: 3 }),
  pytestArgs: [],
}) as DistestSettings;

export interface SettingsRead { settings: DistestSettings; problems: string[] }

/**
 * Reads `<folder>/.vscode/settings.json` (JSON with comments and trailing commas, as VS Code writes
 * it). A missing file gives the defaults; a bad file or bad value is reported and the default kept.
 */
export function readFolderSettings(folder: string): SettingsRead {
  const file = path.join(folder, '.vscode', 'settings.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { settings: cloneDefaults(), problems: [] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripJsonc(text));
  } catch (err) {
    return { settings: cloneDefaults(), problems: [`${file}: not valid JSON (${(err as Error).message}); using default settings`] };
  }
  const read = settingsFromObject(parsed, folder);
  read.problems = read.problems.map(p => `${file}: ${p}`);
  return read;
}

/** Picks the `distest.*` keys out of a settings object (flat dotted keys, as in settings.json). */
export function settingsFromObject(raw: unknown, folder: string): SettingsRead {
  const settings = cloneDefaults();
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { settings, problems: ['settings must be a JSON object; using defaults'] };
  }
  const obj = raw as Record<string, unknown>;
  const bad = (key: string, want: string) => problems.push(`${key} should be ${want}, got ${JSON.stringify(obj[key])}; using the default`);
  const expand = (p: string) => p.replace(/\$\{workspaceFolder\}/g, folder);

  const str = (key: string, set: (v: string) => void) => {
    if (!(key in obj)) return;
    if (typeof obj[key] === 'string') set(expand(obj[key] as string));
    else bad(key, 'a string');
  };
  str('distest.pythonPath', v => (settings.pythonPath = v));
  str('distest.mpiexecPath', v => (settings.mpiexecPath = v));

  if ('distest.mpiDefaultRanks' in obj) {
    const v = obj['distest.mpiDefaultRanks'];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1) settings.mpiDefaultRanks = v;
    else bad('distest.mpiDefaultRanks', 'a whole number ≥ 1');
  }
  if ('distest.local.oversubscribe' in obj) {
    const v = obj['distest.local.oversubscribe'];
    if (typeof v === 'boolean') settings.local.oversubscribe = v;
    else bad('distest.local.oversubscribe', 'true or false');
  }
  if ('distest.timeoutSeconds' in obj) {
    const v = obj['distest.timeoutSeconds'];
    if (typeof v === 'number' && v >= 0) settings.timeoutSeconds = v;
    else bad('distest.timeoutSeconds', 'a number ≥ 0 (0: no timeout)');
  }
  if ('distest.silenceSeconds' in obj) {
    const v = obj['distest.silenceSeconds'];
    if (typeof v === 'number' && v >= 0) settings.silenceSeconds = v;
    else bad('distest.silenceSeconds', 'a number ≥ 0 (0: off)');
  }
  if ('distest.cores.enable' in obj) {
    const v = obj['distest.cores.enable'];
    if (typeof v === 'boolean') settings.cores.enable = v;
    else bad('distest.cores.enable', 'true or false');
  }
  if ('distest.cores.maxPerRun' in obj) {
    const v = obj['distest.cores.maxPerRun'];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) settings.cores.maxPerRun = v;
    else bad('distest.cores.maxPerRun', 'a whole number ≥ 0');
  }
  if ('distest.pytestArgs' in obj) {
    const v = obj['distest.pytestArgs'];
    if (Array.isArray(v) && v.every(a => typeof a === 'string')) settings.pytestArgs = v;
    else bad('distest.pytestArgs', 'a list of strings');
  }
  if ('distest.launchers' in obj) {
    const v = obj['distest.launchers'];
    if (!Array.isArray(v)) bad('distest.launchers', 'an array of {glob, launcher, ranks?}');
    else {
      v.forEach((entry, i) => {
        const launcher = readLauncherTemplate(entry);
        if (launcher) settings.launchers.push(launcher);
        else problems.push(`distest.launchers[${i}] should be {"glob": string, "launcher": string, "ranks"?: whole number ≥ 0}, got ${JSON.stringify(entry)}; ignored`);
      });
    }
  }
  return { settings, problems };
}

/** One `distest.launchers` entry, or null when it is not `{glob, launcher, ranks?}` with sane values. */
export function readLauncherTemplate(entry: unknown): LauncherTemplate | null {
  if (typeof entry !== 'object' || entry === null) return null;
  const { glob, launcher, ranks } = entry as Record<string, unknown>;
  if (typeof glob !== 'string' || !glob || typeof launcher !== 'string' || !launcher.trim()) return null;
  if (ranks === undefined) return { glob, launcher };
  if (typeof ranks !== 'number' || !Number.isInteger(ranks) || ranks < 0) return null;
  return { glob, launcher, ranks };
}

function cloneDefaults(): DistestSettings {
  return { ...DEFAULT_SETTINGS, launchers: [], pytestArgs: [], local: { ...DEFAULT_SETTINGS.local }, cores: { ...DEFAULT_SETTINGS.cores } };
}

/** Removes // and /* *\/ comments and trailing commas outside strings, keeping line numbers. */
export function stripJsonc(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const comment = end < 0 ? text.slice(i) : text.slice(i, end + 2);
      out += comment.replace(/[^\n]/g, ' ');
      i += comment.length;
    } else if (c === ',') {
      const rest = /^,(\s|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*[\]}]/.exec(text.slice(i));
      out += rest ? ' ' : ',';
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
