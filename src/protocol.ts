// Every custom message between the extension (client) and the discovery language server, in one place.
// Standard LSP traffic also used: textDocument/didOpen|didChange|didClose (live discovery of open Python
// files), workspace/didChangeWatchedFiles (files changed on disk), workspace/didChangeConfiguration
// (settings), textDocument/publishDiagnostics (marker problems) and textDocument/hover (rank counts).
import { NotificationType, NotificationType0, RequestType } from 'vscode-languageserver-protocol';
import { DEFAULT_DISCOVERY_CONFIG, type DiscoveryConfig } from './core/discovery/config';
import { readLauncherTemplate } from './core/settings';
import type { FileDiscovery, TestSpec } from './core/types';

/**
 * Server → client, one file at a time: the file's tests after a live edit, a save, a change on disk or
 * a close. `tests` replaces everything the client knew for that file; empty means the file has no
 * tests any more (deleted, renamed, or emptied).
 */
export interface TestsChangedParams {
  /** The workspace folder the file belongs to (as given at initialize / DiscoverAll). */
  folderUri: string;
  /** Path relative to the folder, forward slashes; TestSpec ids start with it. */
  file: string;
  /** The file's own URI. */
  uri: string;
  tests: TestSpec[];
}
export const TestsChanged = new NotificationType<TestsChangedParams>('distest/testsChanged');

/**
 * Client → server: scan a whole workspace folder from disk (open documents count with their unsaved
 * text). Answers every test file found, including files without tests, sorted by path.
 */
export interface DiscoverAllParams { folderUri: string }
export const DiscoverAll = new RequestType<DiscoverAllParams, FileDiscovery[], void>('distest/discoverAll');

/**
 * Server → client: discovery settings changed, so tests of files that are not open may be stale; the
 * client should send DiscoverAll again for each folder. Open files were already re-sent via TestsChanged.
 */
export const RescanNeeded = new NotificationType0('distest/rescanNeeded');

/** The `workspace/didChangeConfiguration` section the server reads: `params.settings.distest`. */
export const SETTINGS_SECTION = 'distest';

/**
 * What the server needs to know. Sent as `initializationOptions`, and on change as
 * `workspace/didChangeConfiguration` with `{ settings: { distest: <ServerSettings> } }`.
 * For convenience the server also accepts the raw `distest` settings section there (keys `launchers`,
 * `mpiDefaultRanks`, `testFilePatterns`, `exclude` at its top level) — see readServerSettings.
 */
export interface ServerSettings { discovery: DiscoveryConfig }

/**
 * Reads ServerSettings from an untrusted JSON value (initializationOptions or a settings section).
 * Malformed entries are dropped one by one, never the whole configuration; returns the problems found.
 */
export function readServerSettings(raw: unknown): { settings: ServerSettings; problems: string[] } {
  const problems: string[] = [];
  const section = isObject(raw) ? raw : {};
  const source = isObject(section.discovery) ? section.discovery : section;
  const discovery: DiscoveryConfig = { ...DEFAULT_DISCOVERY_CONFIG, launchers: [] };

  if (Array.isArray(source.launchers)) {
    source.launchers.forEach((entry, index) => {
      const template = readLauncherTemplate(entry);
      if (template) discovery.launchers.push(template);
      else problems.push(`launchers[${index}] needs a string "glob" and "launcher" and an optional non-negative integer "ranks"; ignored`);
    });
  } else if (source.launchers !== undefined) {
    problems.push('launchers must be a list; ignored');
  }
  if (source.mpiDefaultRanks !== undefined) {
    if (Number.isInteger(source.mpiDefaultRanks) && (source.mpiDefaultRanks as number) >= 1) discovery.mpiDefaultRanks = source.mpiDefaultRanks as number;
    else problems.push(`mpiDefaultRanks must be a positive integer, got ${JSON.stringify(source.mpiDefaultRanks)}; using ${discovery.mpiDefaultRanks}`);
  }
  for (const key of ['testFilePatterns', 'exclude'] as const) {
    const value = source[key];
    if (value === undefined) continue;
    if (Array.isArray(value) && value.every(v => typeof v === 'string')) discovery[key] = value;
    else problems.push(`${key} must be a list of glob strings; using the default`);
  }
  return { settings: { discovery }, problems };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
