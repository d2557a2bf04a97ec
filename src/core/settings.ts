import fs from 'node:fs';
import path from 'node:path';
import { parseAllocationSpec, type HostSlotsSpec } from './launch/allocationSpec';
import type { LauncherTemplate } from './types';

/** `distest.local.maxRanksPerSlot` unless set: `parallel(100000)` on a laptop is a typo, not a test. */
export const DEFAULT_MAX_RANKS_PER_SLOT = 4;

/** What `New Slurm allocation` and `--allocation slurm:new` ask for unless told otherwise. */
export interface SlurmDefaults { nodes: number; tasks: number; minutes: number; partition: string; account: string; mpiPlugin: string }
/** What `New PBS allocation` and `--allocation pbs:new` ask for unless told otherwise. */
export interface PbsDefaults { nodes: number; ncpus: number; walltime: string; queue: string; account: string }

/** The `distest.*` settings the CLI and the editor share, with their defaults filled in. */
export interface DistestSettings {
  /** Python for the ranks; empty means `python3` on PATH. */
  pythonPath: string;
  /** mpirun/mpiexec to use; empty means `mpirun`, then `mpiexec` on PATH. */
  mpiexecPath: string;
  launchers: LauncherTemplate[];
  /** Rank count for tests whose count only the run can decide. */
  mpiDefaultRanks: number;
  /** Oversubscribing this machine: allowed at all, and at most `maxRanksPerSlot` ranks per slot (0: no limit). */
  local: { oversubscribe: boolean; maxRanksPerSlot: number };
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
  /** SSH hosts the allocation picker offers, each with its slots (else `nproc` there). */
  hosts: HostSlotsSpec[];
  /** ssh_config aliases where squeue/salloc/qstat run; this machine is asked too when it has them. */
  loginHosts: string[];
  slurm: SlurmDefaults;
  pbs: PbsDefaults;
  /** ssh alias of a launching host → the project's absolute path there (else the local path is used). */
  remoteRoots: Record<string, string>;
  /** Copy changed workspace files to the remote root before each run. */
  syncBeforeRun: boolean;
}

export const DEFAULT_SETTINGS: DistestSettings = Object.freeze({
  pythonPath: '',
  mpiexecPath: '',
  launchers: [],
  mpiDefaultRanks: 2,
  local: Object.freeze({ oversubscribe: true, maxRanksPerSlot: DEFAULT_MAX_RANKS_PER_SLOT }),
  timeoutSeconds: 600,
  silenceSeconds: 0,
  cores: Object.freeze({ enable: true, maxPerRun: 3 }),
  pytestArgs: [],
  nativeStacks: false,
  hosts: [],
  loginHosts: [],
  slurm: Object.freeze({ nodes: 2, tasks: 0, minutes: 30, partition: '', account: '', mpiPlugin: 'pmix' }),
  pbs: Object.freeze({ nodes: 2, ncpus: 4, walltime: '00:30:00', queue: '', account: '' }),
  remoteRoots: Object.freeze({}),
  syncBeforeRun: false,
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

  /** A value of the wanted kind passes `ok` and is set; anything else is reported and the default kept. */
  const typed = <T>(key: string, is: (v: unknown) => v is T, want: string, set: (v: T) => void) => {
    if (!(key in obj)) return;
    if (is(obj[key])) set(obj[key] as T);
    else bad(key, want);
  };
  const number = (min: number, whole: boolean) => (v: unknown): v is number =>
    typeof v === 'number' && v >= min && (!whole || Number.isInteger(v));
  const boolean = (v: unknown): v is boolean => typeof v === 'boolean';
  typed('distest.mpiDefaultRanks', number(1, true), 'a whole number ≥ 1', v => (settings.mpiDefaultRanks = v));
  typed('distest.local.oversubscribe', boolean, 'true or false', v => (settings.local.oversubscribe = v));
  typed('distest.local.maxRanksPerSlot', number(0, true), 'a whole number ≥ 0 (0: no limit)', v => (settings.local.maxRanksPerSlot = v));
  typed('distest.timeoutSeconds', number(0, false), 'a number ≥ 0 (0: no timeout)', v => (settings.timeoutSeconds = v));
  typed('distest.silenceSeconds', number(0, false), 'a number ≥ 0 (0: off)', v => (settings.silenceSeconds = v));
  typed('distest.cores.enable', boolean, 'true or false', v => (settings.cores.enable = v));
  typed('distest.cores.maxPerRun', number(0, true), 'a whole number ≥ 0', v => (settings.cores.maxPerRun = v));
  if ('distest.pytestArgs' in obj) {
    const v = obj['distest.pytestArgs'];
    if (Array.isArray(v) && v.every(a => typeof a === 'string')) settings.pytestArgs = v;
    else bad('distest.pytestArgs', 'a list of strings');
  }
  typed('distest.slurm.nodes', number(1, true), 'a whole number ≥ 1', v => (settings.slurm.nodes = v));
  typed('distest.slurm.tasks', number(0, true), 'a whole number ≥ 0 (0: one per node)', v => (settings.slurm.tasks = v));
  typed('distest.slurm.minutes', number(1, true), 'a whole number ≥ 1', v => (settings.slurm.minutes = v));
  str('distest.slurm.partition', v => (settings.slurm.partition = v));
  str('distest.slurm.account', v => (settings.slurm.account = v));
  str('distest.slurm.mpiPlugin', v => (settings.slurm.mpiPlugin = v));
  typed('distest.pbs.nodes', number(1, true), 'a whole number ≥ 1', v => (settings.pbs.nodes = v));
  typed('distest.pbs.ncpus', number(1, true), 'a whole number ≥ 1', v => (settings.pbs.ncpus = v));
  typed('distest.pbs.walltime', (v): v is string => typeof v === 'string' && /^\d+:\d{2}:\d{2}$/.test(v), 'HH:MM:SS', v => (settings.pbs.walltime = v));
  str('distest.pbs.queue', v => (settings.pbs.queue = v));
  str('distest.pbs.account', v => (settings.pbs.account = v));
  typed('distest.hangs.nativeStacks', boolean, 'true or false', v => (settings.nativeStacks = v));
  typed('distest.syncBeforeRun', boolean, 'true or false', v => (settings.syncBeforeRun = v));
  if ('distest.remoteRoots' in obj) {
    const v = obj['distest.remoteRoots'];
    const entries = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.entries(v) : null;
    if (!entries) bad('distest.remoteRoots', 'an object of ssh host alias → absolute path');
    for (const [alias, root] of entries ?? []) {
      if (typeof root === 'string' && root.startsWith('/')) settings.remoteRoots[alias] = root;
      else problems.push(`distest.remoteRoots["${alias}"] should be an absolute path, got ${JSON.stringify(root)}; ignored`);
    }
  }
  /** A list whose entries are read one by one: bad entries are named and dropped, the rest kept. */
  const list = <T>(key: string, want: string, read: (entry: unknown) => T | null, entryWant: string, add: (v: T) => void) => {
    if (!(key in obj)) return;
    const v = obj[key];
    if (!Array.isArray(v)) {
      bad(key, want);
      return;
    }
    v.forEach((entry, i) => {
      const value = read(entry);
      if (value !== null) add(value);
      else problems.push(`${key}[${i}] should be ${entryWant}, got ${JSON.stringify(entry)}; ignored`);
    });
  };
  list('distest.hosts', 'a list of host names or {"name", "slots"}', readHostEntry, 'a host name or {"name": string, "slots"?: whole number ≥ 1}', h => settings.hosts.push(h));
  list('distest.loginHosts', 'a list of ssh host aliases', e => (typeof e === 'string' && readHostEntry(e) ? e : null), 'an ssh host alias', h => settings.loginHosts.push(h));
  list('distest.launchers', 'an array of {glob, launcher, ranks?}', readLauncherTemplate, '{"glob": string, "launcher": string, "ranks"?: whole number ≥ 0}', l => settings.launchers.push(l));
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

function cloneDefaults(): DistestSettings {
  return {
    ...DEFAULT_SETTINGS, launchers: [], pytestArgs: [], hosts: [], loginHosts: [], remoteRoots: {},
    local: { ...DEFAULT_SETTINGS.local }, cores: { ...DEFAULT_SETTINGS.cores }, slurm: { ...DEFAULT_SETTINGS.slurm }, pbs: { ...DEFAULT_SETTINGS.pbs },
  };
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
