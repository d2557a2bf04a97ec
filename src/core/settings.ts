// The one reader of the `distest.*` settings. Every setting is a row of SETTINGS (key, type, default,
// check); the editor reads VS Code's configuration through it, the CLI `<folder>/.vscode/settings.json`,
// the language server its discovery slice. package.json contributes the same keys with the same
// defaults and types (test/unit/settings.test.ts holds the two together).
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_MAX_RANKS_PER_SLOT } from './allocation/allocation';
import type { AllocationSettings } from './allocation/resolve';
import { parseAllocationSpec, type HostSlotsSpec } from './allocation/spec';
import { parseRankSelection } from './debug/request';
import type { LauncherTemplate } from './types';

/** The `distest.*` settings, with their defaults filled in. */
export interface DistestSettings extends AllocationSettings {
  /** Python for the ranks; empty means `python3` as the launching host resolves it. */
  pythonPath: string;
  launchers: LauncherTemplate[];
  /** Rank count for tests whose count only the run can decide. */
  mpiDefaultRanks: number;
  /** Per test unless `@pytest.mark.timeout(S)` says otherwise; 0 means no timeout. */
  timeoutSeconds: number;
  /** No output and no result from any rank for this long is a hang; 0 turns the watchdog off. */
  silenceSeconds: number;
  /** Core files of crashed ranks: raise the core limit, analyse at most `maxPerRun` per run with gdb. */
  cores: { enable: boolean; maxPerRun: number };
  /** Extra pytest arguments on every rank. */
  pytestArgs: string[];
  /** On a hang, also attach gdb to one rank per group for its native stack. */
  nativeStacks: boolean;
  /** ssh alias of a launching host → the project's absolute path there (else the local path is used). */
  remoteRoots: Record<string, string>;
  /** Copy changed workspace files to the remote root before each run. */
  syncBeforeRun: boolean;
  /** Runs whose per-rank logs are kept on disk. */
  logs: { keepRuns: number };
  /** Repeat studies: iterations asked for by default; stop at the first failure by default. */
  repeat: { count: number; untilFail: boolean };
  /** Scale studies: runs per rank count; studies kept in the workspace's history. */
  scale: { repeat: number };
  studies: { keep: number };
  /** Keep discovery results across sessions (the discovery cache). */
  discoveryCache: boolean;
  /** Debug runs: which ranks get a debugger (`all`, `0,2-3`), break on failure, how long ranks wait for a client. */
  debug: { ranks: string; breakOnFailure: boolean; waitSeconds: number };
  /** Settle dynamic items with pytest's own collection in the background (trusted folders only). */
  discoveryExact: boolean;
  /** Launches at once on disjoint slots of the allocation: `auto` as many as fit, 1 one after another. */
  parallelLaunches: number | 'auto';
}

/** A JSON schema type as package.json's `contributes.configuration` writes it. */
export type SettingType = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object' | ['integer', 'null'] | ['string', 'integer'];

/** How a value is read: the value to keep, or what was wanted (the default is kept). */
type Read<T> = { value: T } | { want: string };

interface Setting<T> {
  /** Without the `distest.` prefix, as `getConfiguration('distest').get(key)` takes it. */
  key: string;
  type: SettingType;
  default: T;
  read(raw: unknown, context: ReadContext): Read<T>;
  set(settings: DistestSettings, value: T): void;
}

/** A setting with its type hidden behind what the readers do with it. */
export interface SettingRow {
  key: string;
  type: SettingType;
  default: unknown;
  /** Reads `raw` into `settings`; returns what was wanted when it is not a valid value. */
  apply(settings: DistestSettings, raw: unknown, context: ReadContext): string | undefined;
}

function row<T>(setting: Setting<T>): SettingRow {
  return {
    key: setting.key,
    type: setting.type,
    default: setting.default,
    apply(settings, raw, context) {
      const read = setting.read(raw, context);
      if (!('value' in read)) return read.want;
      setting.set(settings, read.value);
      return undefined;
    },
  };
}

interface ReadContext {
  /** `${workspaceFolder}` in strings. */
  folder: string;
  /** Problems with single entries of a list or object (the rest is kept). */
  problems: string[];
}

// ---- the kinds of setting ----

const text = (key: string, fallback: string, set: (s: DistestSettings, v: string) => void, opts: { pattern?: RegExp; want?: string } = {}): SettingRow => row<string>({
  key, type: 'string', default: fallback, set,
  read: (raw, { folder }) => typeof raw === 'string' && (!opts.pattern || opts.pattern.test(raw))
    ? { value: raw.replace(/\$\{workspaceFolder\}/g, folder) }
    : { want: opts.want ?? 'a string' },
});

const whole = (key: string, fallback: number, min: number, set: (s: DistestSettings, v: number) => void, note = ''): SettingRow => row<number>({
  key, type: 'integer', default: fallback, set,
  read: raw => (typeof raw === 'number' && Number.isInteger(raw) && raw >= min ? { value: raw } : { want: `a whole number ≥ ${min}${note}` }),
});

const decimal = (key: string, fallback: number, set: (s: DistestSettings, v: number) => void, note: string): SettingRow => row<number>({
  key, type: 'number', default: fallback, set,
  read: raw => (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0 ? { value: raw } : { want: `a number ≥ 0${note}` }),
});

const flag = (key: string, fallback: boolean, set: (s: DistestSettings, v: boolean) => void): SettingRow => row<boolean>({
  key, type: 'boolean', default: fallback, set,
  read: raw => (typeof raw === 'boolean' ? { value: raw } : { want: 'true or false' }),
});

/** A list whose entries are read one by one: a bad entry is named and dropped, the others kept. */
const list = <T>(key: string, want: string, entry: (raw: unknown) => T | null, entryWant: string, set: (s: DistestSettings, v: T[]) => void): SettingRow => row<T[]>({
  key, type: 'array', default: [], set,
  read: (raw, { problems }) => {
    if (!Array.isArray(raw)) return { want };
    const kept: T[] = [];
    raw.forEach((item, i) => {
      const value = entry(item);
      if (value !== null) kept.push(value);
      else problems.push(`distest.${key}[${i}] should be ${entryWant}, got ${JSON.stringify(item)}; ignored`);
    });
    return { value: kept };
  },
});

/** Every `distest.*` setting, in package.json's order. */
export const SETTINGS: readonly SettingRow[] = [
  text('pythonPath', '', (s, v) => (s.pythonPath = v)),
  text('mpiexecPath', '', (s, v) => (s.mpiexecPath = v)),
  whole('mpiDefaultRanks', 2, 1, (s, v) => (s.mpiDefaultRanks = v)),
  list('launchers', 'an array of {glob, launcher, ranks?, batch?}', readLauncherTemplate, '{"glob": string, "launcher": string, "ranks"?: whole number ≥ 0, "batch"?: boolean}', (s, v) => (s.launchers = v)),
  flag('local.oversubscribe', true, (s, v) => (s.local.oversubscribe = v)),
  whole('local.maxRanksPerSlot', DEFAULT_MAX_RANKS_PER_SLOT, 0, (s, v) => (s.local.maxRanksPerSlot = v), ' (0: no limit)'),
  row<number | null>({
    key: 'local.slots', type: ['integer', 'null'], default: null, set: (s, v) => (s.local.slots = v),
    read: raw => (raw === null || (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1) ? { value: raw } : { want: 'a whole number ≥ 1, or null for the CPU count' }),
  }),
  row<number | 'auto'>({
    key: 'parallelLaunches', type: ['string', 'integer'], default: 'auto', set: (s, v) => (s.parallelLaunches = v),
    read: raw => (raw === 'auto' || (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1) ? { value: raw } : { want: '"auto" or a whole number ≥ 1' }),
  }),
  list('hosts', 'a list of host names or {"name", "slots"}', readHostEntry, 'a host name or {"name": string, "slots"?: whole number ≥ 1}', (s, v) => (s.hosts = v)),
  list('loginHosts', 'a list of ssh host aliases', e => (typeof e === 'string' && readHostEntry(e) ? e : null), 'an ssh host alias', (s, v) => (s.loginHosts = v)),
  row<Record<string, string>>({
    key: 'remoteRoots', type: 'object', default: {}, set: (s, v) => (s.remoteRoots = v),
    read: (raw, { problems }) => {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { want: 'an object of ssh host alias → absolute path' };
      const roots: Record<string, string> = {};
      for (const [alias, root] of Object.entries(raw)) {
        if (typeof root === 'string' && root.startsWith('/')) roots[alias] = root;
        else problems.push(`distest.remoteRoots["${alias}"] should be an absolute path, got ${JSON.stringify(root)}; ignored`);
      }
      return { value: roots };
    },
  }),
  flag('syncBeforeRun', false, (s, v) => (s.syncBeforeRun = v)),
  whole('slurm.nodes', 2, 1, (s, v) => (s.slurm.nodes = v)),
  whole('slurm.tasks', 0, 0, (s, v) => (s.slurm.tasks = v), ' (0: one per node)'),
  whole('slurm.minutes', 30, 1, (s, v) => (s.slurm.minutes = v)),
  text('slurm.partition', '', (s, v) => (s.slurm.partition = v)),
  text('slurm.account', '', (s, v) => (s.slurm.account = v)),
  text('slurm.mpiPlugin', 'pmix', (s, v) => (s.slurm.mpiPlugin = v)),
  whole('pbs.nodes', 2, 1, (s, v) => (s.pbs.nodes = v)),
  whole('pbs.ncpus', 4, 1, (s, v) => (s.pbs.ncpus = v)),
  text('pbs.walltime', '00:30:00', (s, v) => (s.pbs.walltime = v), { pattern: /^\d+:\d{2}:\d{2}$/, want: 'HH:MM:SS' }),
  text('pbs.queue', '', (s, v) => (s.pbs.queue = v)),
  text('pbs.account', '', (s, v) => (s.pbs.account = v)),
  decimal('timeoutSeconds', 600, (s, v) => (s.timeoutSeconds = v), ' (0: no timeout)'),
  decimal('silenceSeconds', 0, (s, v) => (s.silenceSeconds = v), ' (0: off)'),
  flag('hangs.nativeStacks', false, (s, v) => (s.nativeStacks = v)),
  flag('cores.enable', true, (s, v) => (s.cores.enable = v)),
  whole('cores.maxPerRun', 3, 0, (s, v) => (s.cores.maxPerRun = v)),
  list('pytestArgs', 'a list of strings', e => (typeof e === 'string' ? e : null), 'a string', (s, v) => (s.pytestArgs = v)),
  whole('logs.keepRuns', 10, 1, (s, v) => (s.logs.keepRuns = v)),
  whole('repeat.count', 20, 1, (s, v) => (s.repeat.count = v)),
  flag('repeat.untilFail', false, (s, v) => (s.repeat.untilFail = v)),
  whole('scale.repeat', 3, 1, (s, v) => (s.scale.repeat = v)),
  whole('studies.keep', 50, 1, (s, v) => (s.studies.keep = v)),
  flag('discovery.cache', true, (s, v) => (s.discoveryCache = v)),
  row<string>({
    key: 'debug.ranks', type: 'string', default: 'all', set: (s, v) => (s.debug.ranks = v),
    read: raw => (typeof raw === 'string' && validRanks(raw) ? { value: raw.trim() } : { want: '`all` or a list of ranks like `0,2-3`' }),
  }),
  flag('debug.breakOnFailure', true, (s, v) => (s.debug.breakOnFailure = v)),
  decimal('debug.waitSeconds', 300, (s, v) => (s.debug.waitSeconds = v), ''),
  flag('discovery.exact', true, (s, v) => (s.discoveryExact = v)),
];

function validRanks(text: string): boolean {
  try {
    parseRankSelection(text);
    return true;
  } catch {
    return false;
  }
}

/** The ranks' python: `distest.pythonPath`, else the `python3` the launching host's PATH finds. */
export function pythonFor(settings: Pick<DistestSettings, 'pythonPath'>): string {
  return settings.pythonPath || 'python3';
}

/** Fresh settings holding every default (nothing shared with another caller's copy). */
export function defaultSettings(): DistestSettings {
  const settings = {
    local: {}, cores: {}, slurm: {}, pbs: {}, logs: {}, repeat: {}, scale: {}, studies: {}, debug: {},
  } as DistestSettings;
  for (const setting of SETTINGS) setting.apply(settings, structuredClone(setting.default), { folder: '', problems: [] });
  return settings;
}

export const DEFAULT_SETTINGS: Readonly<DistestSettings> = Object.freeze(defaultSettings());

export interface SettingsRead { settings: DistestSettings; problems: string[] }

/**
 * Reads `distest.*` values from any source: `get(key)` answers a key without the prefix, undefined when
 * unset. A bad value is reported and its default kept; `${workspaceFolder}` in strings becomes `folder`.
 */
export function readSettings(get: (key: string) => unknown, folder: string): SettingsRead {
  const settings = defaultSettings();
  const context: ReadContext = { folder, problems: [] };
  for (const setting of SETTINGS) {
    const raw = get(setting.key);
    if (raw === undefined) continue;
    const want = setting.apply(settings, raw, context);
    if (want !== undefined) context.problems.push(`distest.${setting.key} should be ${want}, got ${JSON.stringify(raw)}; using the default`);
  }
  return { settings, problems: context.problems };
}

/** Picks the `distest.*` keys out of a settings object (flat dotted keys, as in settings.json). */
export function settingsFromObject(raw: unknown, folder: string): SettingsRead {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { settings: defaultSettings(), problems: ['settings must be a JSON object; using defaults'] };
  }
  const obj = raw as Record<string, unknown>;
  return readSettings(key => obj[`distest.${key}`], folder);
}

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
    return { settings: defaultSettings(), problems: [] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripJsonc(text));
  } catch (err) {
    return { settings: defaultSettings(), problems: [`${file}: not valid JSON (${(err as Error).message}); using default settings`] };
  }
  const read = settingsFromObject(parsed, folder);
  read.problems = read.problems.map(p => `${file}: ${p}`);
  return read;
}

/**
 * What the discovery language server needs of the settings. `exactPython`: the python that settles
 * dynamic items with pytest's collection (core/discovery/exact.ts); absent when that pass is off.
 */
export interface DiscoverySettings { launchers: LauncherTemplate[]; mpiDefaultRanks: number; cache: boolean; exactPython?: string }

/**
 * The language server's slice: in an untrusted folder no launcher templates and no exact pass (both run
 * programs the folder names: a launcher, the folder's own conftest.py files under pytest).
 */
export function discoverySettings(settings: DistestSettings, trusted: boolean): DiscoverySettings {
  const slice: DiscoverySettings = { launchers: trusted ? settings.launchers : [], mpiDefaultRanks: settings.mpiDefaultRanks, cache: settings.discoveryCache };
  if (trusted && settings.discoveryExact) slice.exactPython = pythonFor(settings);
  return slice;
}

/** One `distest.launchers` entry, or null when it is not `{glob, launcher, ranks?}` with sane values. */
function readLauncherTemplate(entry: unknown): LauncherTemplate | null {
  if (typeof entry !== 'object' || entry === null) return null;
  const { glob, launcher, ranks, batch } = entry as Record<string, unknown>;
  if (typeof glob !== 'string' || !glob || typeof launcher !== 'string' || !launcher.trim()) return null;
  if (batch !== undefined && typeof batch !== 'boolean') return null;
  const template: LauncherTemplate = { glob, launcher, ...(batch === false ? { batch } : {}) };
  if (ranks === undefined) return template;
  if (typeof ranks !== 'number' || !Number.isInteger(ranks) || ranks < 0) return null;
  return { ...template, ranks };
}

/** A `distest.hosts` entry (`"node1"` or `{"name": "node1", "slots": 4}`), checked like `hosts:` specs. */
function readHostEntry(entry: unknown): HostSlotsSpec | null {
  const { name, slots } = typeof entry === 'string' ? { name: entry, slots: undefined } : ((entry ?? {}) as Record<string, unknown>);
  if (typeof name !== 'string' || (slots !== undefined && (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1))) return null;
  try {
    const spec = parseAllocationSpec(`hosts:${name}`);
    return spec.kind === 'hosts' && spec.hosts.length === 1 ? { name, ...(slots ? { slots } : {}) } : null;
  } catch {
    return null;
  }
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
