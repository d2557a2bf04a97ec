import * as vscode from 'vscode';
import { TestExplorer } from './vscode/testExplorer';
import { ActiveRuns } from './vscode/testRunner';

/** What activate() hands to the extension-host test suite. */
export interface DistestApi {
  controller: vscode.TestController;
  /** Resolves once every workspace folder has been discovered once. */
  discovered: Promise<void>;
  refresh(): Promise<void>;
  /** Rank debug sessions of Debug runs and the all-ranks commands. */
  debugSessions: TestExplorer['debugSessions'];
  /** A Debug run of `items` with `ranks` under the debugger, as "Debug Ranks…" starts it. */
  debugTests: TestExplorer['debugTests'];
}

const activeRuns = new ActiveRuns();

export function activate(context: vscode.ExtensionContext): DistestApi {
  const log = vscode.window.createOutputChannel('distest', { log: true });
  const explorer = new TestExplorer(context, log, activeRuns);
  context.subscriptions.push(log, explorer, vscode.commands.registerCommand('distest.showLog', () => log.show()));
  return { controller: explorer.controller, discovered: explorer.discovered, refresh: () => explorer.refresh(),
    debugSessions: explorer.debugSessions, debugTests: (items, ranks, options) => explorer.debugTests(items, ranks, options),
  };
}

/** Runs still going are cancelled (their process trees killed and swept) before the host goes away. */
export function deactivate(): Promise<void> {
  return activeRuns.stopAll(8000);
}
