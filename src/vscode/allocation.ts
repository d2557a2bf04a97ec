import * as vscode from 'vscode';
import { localAllocation, type LocalAllocation } from '../core/launch/allocation';
import { LocalHost } from '../core/transport/local';
import { pythonFromPythonExtension } from './pythonExtension';

export interface ResolvedAllocation { allocation: LocalAllocation; summary: string }

/**
 * Where runs go. Today only this machine; the status bar item and the picker are the place where
 * SSH hosts and scheduler allocations join.
 */
export class AllocationPicker implements vscode.Disposable {
  private readonly statusItem: vscode.StatusBarItem;
  private readonly host = new LocalHost();
  private slotsCache: number | undefined;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.statusItem = vscode.window.createStatusBarItem('distest.allocation', vscode.StatusBarAlignment.Left, 50);
    this.statusItem.name = 'distest allocation';
    this.statusItem.command = 'distest.selectAllocation';
    void this.refreshStatus();
    this.statusItem.show();
  }

  dispose(): void {
    this.statusItem.dispose();
  }

  async pick(): Promise<void> {
    const slots = await this.slots(undefined);
    const picked = await vscode.window.showQuickPick(
      [{ label: '$(vm) Local machine', description: `mpirun on this machine, ${slots} slots`, detail: 'Runs go to the machine VS Code\'s extension host runs on.' }],
      { title: 'distest: where should tests run?', placeHolder: 'Select an allocation' },
    );
    if (picked) await this.refreshStatus();
  }

  async resolve(folder: vscode.WorkspaceFolder): Promise<ResolvedAllocation> {
    const settings = vscode.workspace.getConfiguration('distest', folder.uri);
    const python = settings.get<string>('pythonPath') || (await pythonFromPythonExtension(folder.uri, this.log)) || 'python3';
    const allocation: LocalAllocation = await localAllocation(this.host, {
      python,
      mpiexecPath: settings.get<string>('mpiexecPath') || undefined,
      slots: await this.slots(folder),
      oversubscribe: settings.get<boolean>('local.oversubscribe', true),
    });
    const { mpi, slots, oversubscribe } = allocation;
    const launcher = mpi ? `${mpi.path} (${mpi.flavour} ${mpi.version})` : `no MPI launcher (${allocation.mpiProblem})`;
    const summary = `local machine, ${slots} slots${oversubscribe ? ', oversubscription allowed' : ''}; python ${python}; ${launcher}`;
    this.log.info(`allocation: ${summary}`);
    return { allocation, summary };
  }

  private async slots(folder: vscode.WorkspaceFolder | undefined): Promise<number> {
    const configured = vscode.workspace.getConfiguration('distest', folder?.uri).get<number | null>('local.slots');
    if (configured && configured > 0) return configured;
    return (this.slotsCache ??= await this.host.cpuCount());
  }

  private async refreshStatus(): Promise<void> {
    const slots = await this.slots(undefined);
    this.statusItem.text = `$(server-environment) local · ${slots} slots`;
    this.statusItem.tooltip = 'distest: tests run on this machine with mpirun. Click to choose where tests run.';
  }
}
