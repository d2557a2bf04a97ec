import * as vscode from 'vscode';
import type { ServerSettings } from '../protocol';
import type { LauncherTemplate } from '../core/types';

/**
 * What the language server needs of the `distest.*` settings. In an untrusted folder the launcher
 * templates are left out: they name programs to execute (package.json restrictedConfigurations).
 */
export function serverSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration('distest');
  return {
    discovery: {
      launchers: vscode.workspace.isTrusted ? config.get<LauncherTemplate[]>('launchers', []) : [],
      mpiDefaultRanks: config.get<number>('mpiDefaultRanks', 2),
    },
  };
}
