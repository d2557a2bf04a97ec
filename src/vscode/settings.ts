import * as vscode from 'vscode';
import { discoverySettings, readSettings, type DistestSettings } from '../core/settings';
import type { ServerSettings } from '../protocol';

export type SettingsSource = Pick<typeof vscode.workspace, 'getConfiguration'>;

/**
 * The `distest.*` settings of a folder (or the window) through core/settings' one reader; problems are
 * logged, and the setting's default is used instead.
 */
export function editorSettings(folder?: vscode.Uri, log?: Pick<vscode.LogOutputChannel, 'warn'>, workspace: SettingsSource = vscode.workspace): DistestSettings {
  const config = workspace.getConfiguration('distest', folder);
  const { settings, problems } = readSettings(key => config.get(key) ?? undefined, folder?.fsPath ?? '');
  for (const problem of problems) log?.warn(`settings: ${problem}`);
  return settings;
}

/**
 * What the language server needs of the settings. In an untrusted folder the launcher templates are
 * left out: they name programs to execute (package.json restrictedConfigurations).
 */
export function serverSettings(): ServerSettings {
  return { discovery: discoverySettings(editorSettings(), vscode.workspace.isTrusted) };
}
