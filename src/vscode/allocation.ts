import * as vscode from 'vscode';
import { describeAllocation } from '../core/allocation/allocation';
import type { SessionOptions } from '../core/run/session';
import { formatAllocationSpec, parseAllocationSpec, sameAllocationSpec, type AllocationSpec } from '../core/allocation/spec';
import {
  cancelCreatedJob, listAllocations, resolveAllocation, slurmTimeSeconds, type AllocationChoice, type AllocationContext, type ResolvedAllocation as CoreResolved,
} from '../core/allocation/resolve';
import { Pbs } from '../core/allocation/pbs';
import { Slurm } from '../core/allocation/slurm';
import { pythonFor, type DistestSettings } from '../core/settings';
import { HostPool } from '../core/transport/pool';
import type { SecretStore } from '../core/transport/ssh/connect';
import { pythonFromPythonExtension } from './pythonExtension';
import { editorSettings } from './settings';

const SPEC_KEY = 'distest.allocation';
const CREATED_KEY = 'distest.createdAllocations';
const TIME_POLL_MS = 60_000;
const EXPIRY_WARNING_S = 5 * 60;

/**
 * Where runs go: the status bar item and picker (this machine, configured SSH hosts, the user's Slurm
 * and PBS jobs, new allocations). The choice is kept per workspace; hosts stay connected while used.
 */
export class AllocationPicker implements vscode.Disposable {
  private readonly statusItem: vscode.StatusBarItem;
  private readonly pool: HostPool;
  /** The remote allocation in use, resolved once and reused by every run until the choice changes. */
  private active?: { spec: AllocationSpec; resolved: Promise<CoreResolved> };
  /** The workspace's choice, parsed once (kept in workspaceState as its text). */
  private current: AllocationSpec;
  private timeLeft?: { text: string; warned: boolean };
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.statusItem = vscode.window.createStatusBarItem('distest.allocation', vscode.StatusBarAlignment.Left, 50);
    this.statusItem.name = 'distest allocation';
    this.statusItem.command = 'distest.selectAllocation';
    this.pool = new HostPool(sshPrompts(context.secrets, log));
    this.current = storedSpec(context.workspaceState.get<string>(SPEC_KEY, 'local'), log);
    this.timer = setInterval(() => void this.pollTimeLeft(), TIME_POLL_MS);
    void this.refreshStatus();
    this.statusItem.show();
  }

  dispose(): void {
    clearInterval(this.timer);
    this.statusItem.dispose();
    this.pool.dispose();
  }

  /** The workspace's choice (`local` unless the user picked something else). */
  get spec(): AllocationSpec {
    return this.current;
  }

  /** The picker command: the choice becomes the workspace's allocation. */
  async pick(): Promise<void> {
    const spec = await this.choose('distest: where should tests run?');
    if (spec) await this.setSpec(spec);
  }

  /** Shows the picker; a "New … allocation" entry creates the job first. Undefined when dismissed. */
  async choose(title: string): Promise<AllocationSpec | undefined> {
    const quickPick = vscode.window.createQuickPick<vscode.QuickPickItem & { choice?: AllocationChoice }>();
    quickPick.title = title;
    quickPick.placeholder = 'Select an allocation (or type local, hosts:NODE,..., slurm:JOBID, pbs:JOBID, login/slurm:new)';
    quickPick.busy = true;
    quickPick.matchOnDescription = true;
    const current = formatAllocationSpec(this.current);
    const toItem = (choice: AllocationChoice): vscode.QuickPickItem & { choice?: AllocationChoice } => ({
      label: `${ICONS[choice.creates ? 'new' : choice.kind]} ${choice.label}`,
      description: choice.description,
      detail: choice.spec === current ? 'in use' : choice.kind === 'problem' ? 'cannot be used now' : undefined,
      choice,
    });
    const local = { spec: 'local', kind: 'local', label: 'Local machine', description: 'mpirun on this machine' } satisfies AllocationChoice;
    quickPick.items = [toItem(local)];
    quickPick.show();
    this.pool.forgetRefusals();
    const listing = vscode.workspace.isTrusted
      ? listAllocations(this.allocationContext()).catch((err: Error) => [local, { kind: 'problem', label: 'listing failed', description: err.message } satisfies AllocationChoice])
      : Promise.resolve([local, { kind: 'problem', label: 'Untrusted folder', description: 'remote hosts and schedulers are offered once the folder is trusted' } satisfies AllocationChoice]);
    void listing.then(choices => {
      quickPick.items = choices.map(toItem);
      quickPick.busy = false;
    });
    const picked = await new Promise<string | undefined>(resolve => {
      quickPick.onDidAccept(() => {
        const item = quickPick.selectedItems[0];
        if (item?.choice?.kind === 'problem') return;
        resolve(item?.choice?.spec ?? typedSpec(quickPick.value));
      });
      quickPick.onDidHide(() => resolve(undefined));
    });
    quickPick.dispose();
    if (!picked) return undefined;
    try {
      const spec = parseAllocationSpec(picked);
      if ((spec.kind === 'slurm' || spec.kind === 'pbs') && spec.jobId === 'new') return await this.create(spec);
      return spec;
    } catch (err) {
      void vscode.window.showErrorMessage(`distest: ${(err as Error).message}`);
      return undefined;
    }
  }

  async setSpec(spec: AllocationSpec): Promise<void> {
    this.current = spec;
    await this.context.workspaceState.update(SPEC_KEY, formatAllocationSpec(spec));
    this.active = undefined;
    this.timeLeft = undefined;
    await this.refreshStatus();
    void this.pollTimeLeft();
  }

  /** Cancels an allocation distest created (the status bar's job, or one chosen from the list). */
  async release(): Promise<void> {
    const created = this.context.workspaceState.get<string[]>(CREATED_KEY, []);
    if (!created.length) {
      void vscode.window.showInformationMessage('distest: there is no allocation distest created to release (jobs created outside distest are never cancelled by it).');
      return;
    }
    const inUse = formatAllocationSpec(this.current);
    const spec = created.length === 1 && created[0] === inUse ? created[0] : await vscode.window.showQuickPick(created, { title: 'distest: release which allocation?' });
    if (!spec) return;
    try {
      await cancelCreatedJob(parseAllocationSpec(spec), this.pool.open);
      void vscode.window.showInformationMessage(`distest: ${spec} released.`);
    } catch (err) {
      void vscode.window.showErrorMessage(`distest: could not release ${spec}: ${(err as Error).message}`);
      return;
    }
    await this.context.workspaceState.update(CREATED_KEY, created.filter(s => s !== spec));
    if (spec === inUse) await this.setSpec({ kind: 'local' });
  }

  /**
   * A run begins: a host refused in an earlier run (its key not trusted) is asked about again, once for
   * the whole run (all its folders), as the picker asks again each time it is opened.
   */
  startRun(): void {
    this.pool.forgetRefusals();
  }

  /**
   * Where a run of `folder` goes: `spec` (a "Run on…" choice) or the workspace's. A remote allocation
   * is looked up once (an ssh round trip or a squeue) and reused while it stays chosen; the picker keeps
   * it, so the run gets no `release`.
   */
  allocationFor(folder: vscode.WorkspaceFolder, settings: DistestSettings, spec = this.current): SessionOptions['allocation'] {
    return {
      label: formatAllocationSpec(spec),
      resolve: async () => {
        const python = settings.pythonPath || (await pythonFromPythonExtension(folder.uri, this.log)) || pythonFor(settings);
        const ctx: AllocationContext = { settings, open: this.pool.open, python };
        if (spec.kind === 'local') return { ...(await resolveAllocation(spec, ctx)), release: undefined };
        if (!this.active || !sameAllocationSpec(this.active.spec, spec)) this.active = { spec, resolved: resolveAllocation(spec, ctx) };
        const pending = this.active;
        const resolved = await pending.resolved.catch((err: Error) => {
          if (this.active === pending) this.active = undefined;
          throw err;
        });
        this.log.info(`allocation: ${describeAllocation(resolved.allocation)}`);
        return { ...resolved, release: undefined };
      },
    };
  }

  private allocationContext(folder?: vscode.WorkspaceFolder): AllocationContext & { settings: DistestSettings } {
    const settings = editorSettings(folder?.uri, this.log);
    return { settings, python: pythonFor(settings), open: this.pool.open };
  }

  /** Asks for the new job's size, then waits as long as the queue takes (cancellable, no timeout). */
  private async create(spec: Extract<AllocationSpec, { kind: 'slurm' | 'pbs' }>): Promise<AllocationSpec | undefined> {
    const ctx = this.allocationContext();
    const d = ctx.settings;
    const whole = (min: number) => (v: string) => (/^\d+$/.test(v.trim()) && Number(v) >= min ? undefined : `a whole number ≥ ${min}`);
    const ask = (prompt: string, value: string, validateInput: (v: string) => string | undefined) =>
      vscode.window.showInputBox({ title: `New ${spec.kind === 'slurm' ? 'Slurm' : 'PBS'} allocation`, prompt, value, validateInput, ignoreFocusOut: true });
    const nodes = await ask('Nodes', String(spec.kind === 'slurm' ? d.slurm.nodes : d.pbs.nodes), whole(1));
    if (nodes === undefined) return undefined;
    const tasks = await ask('Tasks (ranks) in all; 0 for the default', String(spec.kind === 'slurm' ? d.slurm.tasks : d.pbs.ncpus * d.pbs.nodes), whole(0));
    if (tasks === undefined) return undefined;
    const minutes = await ask('Time limit in minutes', String(spec.kind === 'slurm' ? d.slurm.minutes : Math.ceil((slurmTimeSeconds(d.pbs.walltime) ?? 1800) / 60)), whole(1));
    if (minutes === undefined) return undefined;
    const partition = await ask(spec.kind === 'slurm' ? 'Partition (empty: the default one)' : 'Queue (empty: the default one)', spec.kind === 'slurm' ? d.slurm.partition : d.pbs.queue, () => undefined);
    if (partition === undefined) return undefined;
    try {
      const resolved = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `distest: ${formatAllocationSpec(spec)}`, cancellable: true },
        (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          progress.report({ message: 'submitting…' });
          return resolveAllocation(spec, ctx, {
            signal: abort.signal,
            onProgress: text => progress.report({ message: text }),
            request: { nodes: Number(nodes), tasks: Number(tasks) || undefined, minutes: Number(minutes), partition },
            // Kept across reloads and released on request ("distest: Release Allocation").
            keepCreatedJobs: true,
          });
        },
      );
      const created = formatAllocationSpec(resolved.spec);
      await this.context.workspaceState.update(CREATED_KEY, [...this.context.workspaceState.get<string[]>(CREATED_KEY, []), created]);
      this.active = { spec: resolved.spec, resolved: Promise.resolve(resolved) };
      void vscode.window.showInformationMessage(`distest: ${created} is ready (${describeAllocation(resolved.allocation)}). Release it with "distest: Release Allocation" when done.`);
      return resolved.spec;
    } catch (err) {
      void vscode.window.showErrorMessage(`distest: no allocation: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async pollTimeLeft(): Promise<void> {
    const spec = this.current;
    if (spec.kind !== 'slurm' && spec.kind !== 'pbs') return;
    try {
      const host = this.pool.open(spec.login);
      const seconds = spec.kind === 'slurm'
        ? await new Slurm(host).timeLeft(spec.jobId).then(t => (t === null ? -1 : slurmTimeSeconds(t)))
        : await new Pbs(host).timeLeft(spec.jobId).then(s => s ?? null);
      if (seconds === -1) {
        if (this.timeLeft?.text === 'ended') return;
        this.timeLeft = { text: 'ended', warned: true };
        void vscode.window.showWarningMessage(`distest: allocation ${formatAllocationSpec(spec)} has ended; runs go nowhere until you pick another.`, 'Pick Allocation')
          .then(choice => choice && this.pick());
      } else if (seconds !== null) {
        const warned = this.timeLeft?.warned ?? false;
        this.timeLeft = { text: `${formatDuration(seconds)} left`, warned: warned || seconds < EXPIRY_WARNING_S };
        if (!warned && seconds < EXPIRY_WARNING_S) void vscode.window.showWarningMessage(`distest: allocation ${formatAllocationSpec(spec)} ends in ${formatDuration(seconds)}.`);
      }
    } catch (err) {
      this.log.warn(`time left of ${formatAllocationSpec(spec)}: ${(err as Error).message}`);
    }
    await this.refreshStatus();
  }

  private async refreshStatus(): Promise<void> {
    const spec = this.current;
    if (spec.kind === 'local') {
      const slots = this.allocationContext().settings.local.slots ?? (await this.pool.open(undefined).cpuCount());
      this.statusItem.text = `$(server-environment) local · ${slots} slots`;
      this.statusItem.tooltip = 'distest: tests run on this machine with mpirun. Click to choose where tests run.';
      return;
    }
    const left = this.timeLeft ? ` · ${this.timeLeft.text}` : '';
    const label = formatAllocationSpec(spec);
    this.statusItem.text = `${ICONS[spec.kind]} ${label}${left}`;
    this.statusItem.tooltip = `distest: tests run on ${label}${left}. Click to choose where tests run.`;
  }
}

const ICONS: Record<AllocationChoice['kind'] | 'new', string> = {
  local: '$(server-environment)', hosts: '$(remote)', slurm: '$(server-process)', pbs: '$(server-process)', problem: '$(warning)', new: '$(add)',
};

/** What the user typed into the picker, when it is a spec rather than a filter. */
function typedSpec(value: string): string | undefined {
  return value.trim() ? value.trim() : undefined;
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

/** The stored choice; one that no longer parses (an older distest wrote it) falls back to this machine. */
function storedSpec(text: string, log: vscode.LogOutputChannel): AllocationSpec {
  try {
    return parseAllocationSpec(text);
  } catch (err) {
    log.warn(`stored allocation ${JSON.stringify(text)}: ${(err as Error).message}; using local`);
    return { kind: 'local' };
  }
}

/** SshHost's questions in the editor's UI: host keys are confirmed by the user, secrets go only to SecretStorage. */
function sshPrompts(secrets: vscode.SecretStorage, log: vscode.LogOutputChannel) {
  const store: SecretStore = {
    get: key => Promise.resolve(secrets.get(key)),
    set: (key, value) => Promise.resolve(secrets.store(key, value)),
    delete: key => Promise.resolve(secrets.delete(key)),
  };
  return {
    secrets: store,
    log: (line: string) => log.debug(`ssh: ${line}`),
    async confirmUnknownHost(info: { host: string; port: number; keyType: string; fingerprintSha256: string }) {
      const trust = 'Trust and Connect';
      const answer = await vscode.window.showWarningMessage(
        `The authenticity of host '${info.host}' (port ${info.port}) can't be established.`,
        { modal: true, detail: `${info.keyType} key fingerprint is ${info.fingerprintSha256}.\nCompare it with the one your administrator published before trusting it; it is then added to ~/.ssh/known_hosts.` },
        trust,
      );
      return answer === trust;
    },
    async askSecret(request: { kind: 'passphrase' | 'password'; host: string; keyFile?: string }) {
      const value = await vscode.window.showInputBox({
        title: `distest: ssh ${request.host}`,
        prompt: request.kind === 'passphrase' ? `Passphrase for ${request.keyFile ?? 'the key'}` : `Password for ${request.host}`,
        password: true,
        ignoreFocusOut: true,
      });
      if (value === undefined) return undefined;
      const remember = await vscode.window.showQuickPick(['Only for this session', "Remember in VS Code's secret storage"], { title: `Keep the ${request.kind}?`, ignoreFocusOut: true });
      return { value, remember: remember?.startsWith('Remember') ?? false };
    },
  };
}
