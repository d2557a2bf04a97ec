// Every custom message between the extension (client) and the discovery language server, in one place.
// Standard LSP traffic also used: textDocument/didOpen|didChange|didClose (live discovery of open Python
// files), workspace/didChangeWatchedFiles (files changed on disk), workspace/didChangeConfiguration
// (settings), textDocument/publishDiagnostics (marker problems) and textDocument/hover (rank counts).
import { NotificationType, NotificationType0, RequestType } from 'vscode-languageserver-protocol';
import { discoverySettings, readSettings, type DiscoverySettings } from './core/settings';
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
 * What the server needs to know: the discovery slice of the settings (core/settings `discoverySettings`).
 * Sent as `initializationOptions`, and on change as `workspace/didChangeConfiguration` with
 * `{ settings: { distest: <ServerSettings> } }`.
 */
export interface ServerSettings { discovery: DiscoverySettings }

/**
 * `initializationOptions`: the settings, and the folder the discovery cache may use (the extension's
 * workspace storage; without one the server keeps no cache).
 */
export interface ServerInitOptions extends ServerSettings { cacheDir?: string }

/**
 * Reads ServerSettings from an untrusted JSON value (initializationOptions or a settings section)
 * through the one settings reader: malformed entries are dropped one by one, never the whole
 * configuration; returns the problems found.
 */
export function readServerSettings(raw: unknown): { settings: ServerSettings; problems: string[] } {
  const section = isObject(raw) ? raw : {};
  const source = isObject(section.discovery) ? section.discovery : section;
  const { settings, problems } = readSettings(key => source[key], '');
  // The exact pass runs only when the client asked for it (a trusted folder with it on): never by default.
  const discovery = discoverySettings({ ...settings, discoveryExact: false }, true);
  if (typeof source.exactPython === 'string' && source.exactPython) discovery.exactPython = source.exactPython;
  return { settings: { discovery }, problems };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
