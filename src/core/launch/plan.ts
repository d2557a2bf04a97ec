import path from 'node:path';
import { FS_NAME_ARGUMENT_PREFIX, hasEscapedBytes, printableFsName, pythonArgument } from '../fsNames';
import type { ExpectedTest } from '../ranks/aggregate';
import type { TagStyle } from '../ranks/demux';
import type { LauncherTemplate, TestSpec } from '../types';
import { allocationLabel, allocationSlots, DEFAULT_MAX_RANKS_PER_SLOT, type Allocation, type HostsAllocation, type LocalAllocation } from '../allocation/allocation';
import type { MpiInstall } from '../allocation/mpi';
import { expandTemplate, splitCommandLine, TemplateError, usesPlaceholder } from './template';

export interface LaunchStep {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  tests: ExpectedTest[];
  ranks: number;
  tagStyle: TagStyle;
  note?: string;
  /** A host-list launch: the argv word naming every host's slots (`a:4,b:4`), which `placeStep` narrows. */
  hostList?: string;
  /** argv ends with exactly one word per test, in `tests` order, so `splitStep` can divide the launch. */
  perTestArgs?: boolean;
}

export interface PlanProblem { id: string; reason: string }

export interface LaunchPlan {
  steps: LaunchStep[];
  /** Tests this allocation cannot serve (reported skipped, with the reason). */
  skipped: PlanProblem[];
  /** Tests that cannot run as written (bad marker, bad template, no MPI): reported errored. */
  errored: PlanProblem[];
}

export interface PlanOptions {
  root: string;
  assetDir: string;
  /** Authenticates the ranks' records (DISTEST_TOKEN); the agent hides it from test code. */
  token: string;
  /** Marks the launch's processes for the sweep (DISTEST_RUN_ID); independent of the token. */
  runId: string;
  /** Rank count for tests whose count is not fixed by their marker (see `decideRanks`). */
  ranksOverride?: number;
  /** Rank count for dynamic counts when there is no override (`distest.mpiDefaultRanks`). */
  defaultRanks: number;
  extraPytestArgs?: string[];
  /** Arguments pytest takes from its configuration (addopts, PYTEST_ADDOPTS); only read, never passed. */
  pytestConfigArgs?: string[];
  /** The PYTHONPATH the ranks would inherit; kept after the agent folder. */
  inheritedPythonPath?: string;
  /** Whether the launch runs as root (OpenMPI refuses unless told otherwise); defaults to this process. */
  asRoot?: boolean;
  /** Longest argv (bytes) one step may have before its ids are split over several steps. */
  maxArgvBytes?: number;
  /** More variables for every rank (a Debug run's DISTEST_DEBUG_*), forwarded like the others. */
  extraEnv?: Record<string, string>;
  /**
   * Launches may run side by side (distest.parallelLaunches): OpenMPI and srun are told not to bind
   * ranks to cores, since every mpirun would bind its ranks to the same first cores, and so would srun
   * steps that share the job's CPUs (`--overlap`). A launch that takes every slot has nothing beside it
   * and keeps the launcher's binding, as the bare launcher has it.
   */
  concurrent?: boolean;
}

const DEFAULT_MAX_ARGV_BYTES = 100_000;
const MPI_LAUNCHERS = new Set(['mpirun', 'mpiexec']);

/** Turns the selected tests into launcher invocations for an allocation. Pure: no I/O. */
export function planRun(specs: TestSpec[], alloc: Allocation, opts: PlanOptions): LaunchPlan {
  const plan: LaunchPlan = { steps: [], skipped: [], errored: [] };
  // One launch per rank count and test root: pytest reads one configuration file per run.
  const pytestBatches = new Map<string, Batch>();
  const launcherBatches = new Map<string, Batch>();
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.id)) continue;
    seen.add(spec.id);
    if (spec.invalid) {
      plan.errored.push({ id: spec.id, reason: spec.invalid });
      continue;
    }
    const decided = decideRanks(spec, opts);
    if (spec.framework === 'unittest') {
      if (!spec.launcher) {
        plan.errored.push({ id: spec.id, reason: `no launcher template applies to ${spec.file} (add a distest.launchers entry whose glob matches it)` });
        continue;
      }
      // Files sharing a template and count run in one launch where the template can take several files.
      const key = JSON.stringify([batchShape(spec.launcher) ? '' : spec.file, spec.launcher.launcher, decided.ranks]);
      addToBatch(launcherBatches, key, decided, spec);
    } else {
      addToBatch(pytestBatches, `${decided.ranks}\0${spec.testRoot ?? ''}`, decided, spec);
    }
  }
  const ctx = new PlanContext(alloc, opts, plan);
  const rootOf = (batch: Batch) => batch.specs[0].testRoot ?? '';
  for (const batch of [...pytestBatches.values()].sort((a, b) => a.ranks - b.ranks || (rootOf(a) < rootOf(b) ? -1 : rootOf(a) > rootOf(b) ? 1 : 0))) ctx.addPytestBatch(batch);
  for (const batch of launcherBatches.values()) ctx.addLauncherBatch(batch);
  return plan;
}

interface Decided { ranks: number; note?: string }

interface Batch { ranks: number; specs: TestSpec[]; notes: Set<string> }

function addToBatch<K>(batches: Map<K, Batch>, key: K, decided: Decided, spec: TestSpec): void {
  let batch = batches.get(key);
  if (!batch) batches.set(key, (batch = { ranks: decided.ranks, specs: [], notes: new Set() }));
  batch.specs.push(spec);
  if (decided.note) batch.notes.add(decided.note);
}

/**
 * The override only moves counts the marker leaves open: dynamic counts, pytest-mpi's `min_size` (a
 * minimum, so only upwards) and launcher-run files. A fixed pytest_parallel count is the test's
 * meaning, and plain pytest tests stay serial. Dynamic counts without an override run with the default
 * (`distest.mpiDefaultRanks`) and the step says so. 0 means "the launcher decides": unknown here.
 */
function decideRanks(spec: TestSpec, opts: Pick<PlanOptions, 'ranksOverride' | 'defaultRanks'>): Decided {
  const override = opts.ranksOverride;
  const fallback = override ?? opts.defaultRanks;
  const dynamicNote = (n: number) =>
    `${spec.id}: rank count decided at run time (${spec.dynamic ?? 'not a literal'}); running with ${n} ranks (${override !== undefined ? '--ranks' : 'distest.mpiDefaultRanks'})`;
  switch (spec.framework) {
    case 'pytest':
      return { ranks: 1 };
    case 'pytest_parallel':
      return spec.ranks !== null ? { ranks: spec.ranks } : { ranks: fallback, note: dynamicNote(fallback) };
    case 'pytest-mpi':
      if (spec.ranks === null) return { ranks: fallback, note: dynamicNote(fallback) };
      return { ranks: override !== undefined && override > spec.ranks ? override : spec.ranks };
    case 'unittest': {
      if (override !== undefined) return { ranks: override };
      if (spec.ranks !== null) return { ranks: spec.ranks };
      const words = safeSplit(spec.launcher?.launcher ?? '');
      return words && usesPlaceholder(words, 'ranks') ? { ranks: fallback, note: dynamicNote(fallback) } : { ranks: 0 };
    }
  }
}

function safeSplit(text: string): string[] | null {
  try {
    return splitCommandLine(text);
  } catch {
    return null;
  }
}

class PlanContext {
  private readonly baseEnv: Record<string, string>;
  private readonly maxArgvBytes: number;

  constructor(
    private readonly alloc: Allocation,
    private readonly opts: PlanOptions,
    private readonly plan: LaunchPlan,
  ) {
    const agentDir = path.join(opts.assetDir, 'agent');
    this.baseEnv = {
      DISTEST_TOKEN: opts.token,
      // The agent drops DISTEST_TOKEN from its own environment; this one stays, for the cleanup sweep.
      DISTEST_RUN_ID: opts.runId,
      DISTEST_ROOT: opts.root,
      PYTHONPATH: opts.inheritedPythonPath ? `${agentDir}${path.delimiter}${opts.inheritedPythonPath}` : agentDir,
      PYTHONUNBUFFERED: '1',
      ...opts.extraEnv,
    };
    this.maxArgvBytes = opts.maxArgvBytes ?? DEFAULT_MAX_ARGV_BYTES;
  }

  addPytestBatch(batch: Batch): void {
    const { ranks } = batch;
    const specs = this.withoutMpiWhereNone(batch.specs, ranks);
    if (!specs.length) return;
    const notes = [...batch.notes];
    const extraArgs = this.opts.extraPytestArgs ?? [];
    const refused = selfLaunchingScheduler(extraArgs);
    if (refused) {
      for (const s of specs) this.plan.errored.push({ id: s.id, reason: refused });
      return;
    }
    const pytestArgs = [this.alloc.python, '-m', 'pytest', '-p', 'distest_pytest', '-p', 'no:cacheprovider', '--color=no', '-q', '-s'];
    // A nested test root (a folder with its own configuration file): pytest runs there, as its rootdir,
    // on ids relative to it; the agent names them from DISTEST_ROOT again.
    const testRoot = specs[0].testRoot;
    const cwd = testRoot ? path.posix.join(this.opts.root, testRoot) : this.opts.root;
    const argOf = (s: TestSpec) => pythonArgument(testRoot && s.id.startsWith(`${testRoot}/`) ? s.id.slice(testRoot.length + 1) : s.id);
    if (testRoot) pytestArgs.push(`--rootdir=${cwd}`);
    if (specs.some(s => s.framework === 'pytest-mpi')) pytestArgs.push('--with-mpi');
    // pytest_parallel's docs have users load it with -p; without it its `comm` fixture is not found.
    if (specs.some(s => s.framework === 'pytest_parallel') && !namesPlugin([...(this.opts.pytestConfigArgs ?? []), ...extraArgs], 'pytest_parallel')) {
      pytestArgs.push('-p', 'pytest_parallel.plugin');
    }
    pytestArgs.push(...extraArgs);
    const launcher = this.launcher(specs, ranks, notes);
    if (!launcher) return;
    const prefix = [...launcher.argv, ...pytestArgs];
    const chunks = chunkByBytes(specs, prefix, s => [argOf(s)], this.maxArgvBytes);
    chunks.forEach((chunk, i) => {
      const chunkNotes = chunks.length > 1 ? [...notes, `part ${i + 1} of ${chunks.length} (argv limit)`] : notes;
      this.plan.steps.push({
        argv: [...prefix, ...chunk.map(argOf)],
        env: { ...launcher.env },
        cwd,
        tests: chunk.map(s => ({ id: s.id, ranks })),
        ranks,
        tagStyle: launcher.tagStyle,
        ...(chunkNotes.length ? { note: chunkNotes.join('; ') } : {}),
        ...(launcher.hostList ? { hostList: launcher.hostList } : {}),
        perTestArgs: true,
      });
    });
  }

  addLauncherBatch(batch: Batch): void {
    const { ranks } = batch;
    const notes = [...batch.notes];
    const template = batch.specs[0].launcher?.launcher ?? '';
    const alloc = this.alloc;
    if (alloc.kind === 'slurm' || alloc.kind === 'pbs') {
      for (const s of batch.specs) {
        const reason = `launcher templates run on local and host-list allocations only; ${allocationLabel(alloc)} cannot run ${s.file} (use a pytest-family marker, or a hosts allocation)`;
        this.plan.skipped.push({ id: s.id, reason });
      }
      return;
    }
    // Node cannot put bytes that are not UTF-8 in argv: such files are errored, each on its own.
    const [unnamable, specs] = partition(batch.specs, s => hasEscapedBytes(s.file));
    for (const s of unnamable) {
      this.plan.errored.push({
        id: s.id,
        reason: `the name of ${printableFsName(s.file)} is not valid UTF-8, and a launcher template can only be given UTF-8 arguments ` +
          '(distest passes such names to pytest ranks only): rename the file to run it under a launcher',
      });
    }
    if (!specs.length) return;
    try {
      const words = splitCommandLine(template);
      if (words.length === 0) throw new TemplateError('launcher template is empty');
      const first = words[0];
      const isMpi = first === '{mpiexec}' || MPI_LAUNCHERS.has(path.basename(first));
      let tagStyle: TagStyle = 'none';
      let env = this.baseEnv;
      let hostList: string | undefined;
      if (isMpi) {
        const mpi = this.requireMpi(specs, ranks, notes);
        if (!mpi) return;
        const launch = this.mpiLauncher(mpi, ranks);
        tagStyle = launch.tagStyle;
        env = launch.env;
        hostList = launch.hostList;
        const inserted: string[] = [];
        if (launch.tagFlags.length && !words.some(w => launch.tagFlags.includes(w))) inserted.push(launch.tagFlags[0]);
        inserted.push(...launch.placement);
        if (launch.oversubscribe && !words.includes('--oversubscribe')) inserted.push('--oversubscribe');
        // A bare name means "the MPI distest detected", so flavour and binary agree; a path is the user's.
        words.splice(0, 1, first.includes('/') ? first : mpi.path, ...inserted);
      } else if (ranks > 0 && !this.withinRankLimit(specs, ranks)) {
        return;
      } else if (path.basename(first) === 'srun') {
        tagStyle = 'srun';
        if (!words.includes('-l') && !words.includes('--label')) words.splice(1, 0, '-l');
      }
      for (const launch of this.launcherArgvs(words, specs, ranks)) {
        const launchNotes = launch.part ? [...notes, launch.part] : notes;
        this.plan.steps.push({
          argv: launch.argv,
          env: { ...env },
          cwd: this.opts.root,
          tests: launch.specs.map(s => ({ id: s.id, ranks })),
          ranks,
          tagStyle,
          ...(launchNotes.length ? { note: launchNotes.join('; ') } : {}),
          ...(hostList ? { hostList } : {}),
        });
      }
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      for (const s of specs) this.plan.errored.push({ id: s.id, reason: err.message });
    }
  }

  /**
   * The launches of a template's batch: one file as the template says; several files through `{files}`,
   * or (a template ending in `{python} {file}`) as `python -m distest_unittest --file A names... --file B ...`,
   * split where the argv would grow past the limit.
   */
  private launcherArgvs(words: string[], specs: TestSpec[], ranks: number): { argv: string[]; specs: TestSpec[]; part?: string }[] {
    const byFile = new Map<string, TestSpec[]>();
    for (const s of specs) byFile.set(s.file, [...(byFile.get(s.file) ?? []), s]);
    const values = (file: string, tests: TestSpec[], files?: string[]) => ({
      file, ranks: String(ranks), python: this.alloc.python, mpiexec: (this.alloc as LocalAllocation | HostsAllocation).mpi?.path ?? null,
      tests: tests.map(s => unittestName(s)), ...(files ? { files } : {}),
    });
    const files = [...byFile.keys()];
    const shape = batchShape({ launcher: words.join(' '), glob: '' }, words);
    if (files.length === 1 || !shape) {
      return files.map(file => ({ argv: expandTemplate(words, values(file, byFile.get(file) as TestSpec[])), specs: byFile.get(file) as TestSpec[] }));
    }
    const groups = files.map(file => ({ file, specs: byFile.get(file) as TestSpec[] }));
    if (shape.kind === 'files') {
      const prefix = expandTemplate(words, values(files[0], [], []));
      const chunks = chunkByBytes(groups, prefix, g => [g.file, ...g.specs.map(unittestName)], this.maxArgvBytes);
      return chunks.map((chunk, i) => ({
        argv: expandTemplate(words, values(chunk[0].file, chunk.flatMap(g => g.specs), chunk.map(g => g.file))),
        specs: chunk.flatMap(g => g.specs),
        ...(chunks.length > 1 ? { part: `part ${i + 1} of ${chunks.length} (argv limit)` } : {}),
      }));
    }
    const prefix = [...expandTemplate(words.slice(0, shape.pythonAt + 1), values(files[0], [])), '-m', 'distest_unittest'];
    const argsOf = (g: { file: string; specs: TestSpec[] }) => ['--file', g.file, ...g.specs.map(unittestName)];
    const chunks = chunkByBytes(groups, prefix, argsOf, this.maxArgvBytes);
    return chunks.map((chunk, i) => ({
      argv: [...prefix, ...chunk.flatMap(argsOf)],
      specs: chunk.flatMap(g => g.specs),
      ...(chunks.length > 1 ? { part: `part ${i + 1} of ${chunks.length} (argv limit)` } : {}),
    }));
  }

  /** The words before the python command that start `ranks` ranks, or null after filing the tests. */
  private launcher(specs: TestSpec[], ranks: number, notes: string[]): Launcher | null {
    const alloc = this.alloc;
    switch (alloc.kind) {
      case 'local':
      case 'hosts': {
        // One local rank needs no launcher: mpi4py initialises as a singleton, and it saves mpirun's startup.
        if (alloc.kind === 'local' && ranks === 1) return { argv: [], tagStyle: 'none', env: this.baseEnv };
        if (alloc.kind === 'hosts' && !alloc.mpi) return this.spawnLauncher(alloc, specs, ranks, notes);
        const mpi = this.requireMpi(specs, ranks, notes);
        if (!mpi) return null;
        const launch = this.mpiLauncher(mpi, ranks);
        const argv = [mpi.path, ...launch.tagFlags.slice(0, 1), ...launch.placement, launch.countFlag, String(ranks)];
        if (launch.oversubscribe) argv.push('--oversubscribe');
        return { argv, tagStyle: launch.tagStyle, env: launch.env, ...(launch.hostList ? { hostList: launch.hostList } : {}) };
      }
      case 'slurm': {
        if (!this.fits(specs, ranks, notes)) return null;
        const argv = [
          'srun', `--jobid=${alloc.jobId}`, '--overlap', '-N', String(Math.min(alloc.nodes, ranks)), '-n', String(ranks),
          '--label', '--kill-on-bad-exit=1', '--export=ALL', `--mpi=${alloc.mpiPlugin ?? 'pmix'}`,
          ...(this.mayShareCores(ranks) ? ['--cpu-bind=none'] : []),
        ];
        return { argv, tagStyle: 'srun', env: this.baseEnv };
      }
      case 'pbs': {
        if (!this.fits(specs, ranks, notes)) return null;
        // PALS mpiexec (HPE Cray PBS): documented flags, not tested here (no PBS on this machine).
        // --label prefixes each line with "<rank>: " like srun; --envall passes the whole environment.
        const ppn = Math.min(alloc.ppn, ranks);
        const argv = [alloc.mpiexec ?? 'mpiexec', '-n', String(ranks), '--ppn', String(ppn), '--label', '--envall'];
        return { argv, tagStyle: 'srun', env: this.baseEnv };
      }
    }
  }

  /**
   * Tests that need an MPI world of several ranks (pytest-mpi, pytest_parallel) cannot run on a host
   * list without an MPI launcher: started by distest_spawn each rank would be a world of one, and the
   * plugins would skip the test. They are filed errored, as they are where MPI is missing locally.
   */
  private withoutMpiWhereNone(specs: TestSpec[], ranks: number): TestSpec[] {
    const alloc = this.alloc;
    if (alloc.kind !== 'hosts' || alloc.mpi || ranks <= 1) return specs;
    const reason = `needs an MPI world of ${ranks} ranks, but ${alloc.host.name} has no MPI launcher (${alloc.mpiProblem ?? 'no mpirun or mpiexec found'}); ` +
      'without MPI, distest starts ranks with RANK/WORLD_SIZE only for tests that do not use MPI';
    const [needMpi, rest] = partition(specs, s => s.framework === 'pytest-mpi' || s.framework === 'pytest_parallel');
    for (const s of needMpi) this.plan.errored.push({ id: s.id, reason });
    return rest;
  }

  /**
   * Without MPI on the launching host, agent/distest_spawn.py starts each rank on its host (ssh) with
   * RANK / WORLD_SIZE / MASTER_ADDR, Parallel-Python style, and tags output as mpirun --tag-output does.
   */
  private spawnLauncher(alloc: HostsAllocation, specs: TestSpec[], ranks: number, notes: string[]): Launcher | null {
    if (!this.fits(specs, ranks, notes)) return null;
    notes.push(`no MPI launcher on ${alloc.host.name} (${alloc.mpiProblem ?? 'none found'}): ranks started per host with RANK/WORLD_SIZE`);
    const argv = [
      alloc.python, path.join(this.opts.assetDir, 'agent', 'distest_spawn.py'),
      '--hosts', alloc.hosts.map(h => `${h.name}:${h.slots}`).join(','), '--np', String(ranks),
      ...Object.keys(this.baseEnv).flatMap(name => ['--env', name]), '--',
    ];
    return { argv, tagStyle: 'openmpi', env: this.baseEnv, hostList: argv[3] };
  }

  /** Whether `ranks` fit the allocation; else files the tests as skipped (local may oversubscribe). */
  /** Whether a launch of `ranks` may run beside others (PlanOptions.concurrent): its launcher must then not bind cores. */
  private mayShareCores(ranks: number): boolean {
    return this.opts.concurrent === true && ranks < allocationSlots(this.alloc);
  }

  private fits(specs: TestSpec[], ranks: number, notes: string[]): boolean {
    const slots = allocationSlots(this.alloc);
    if (ranks <= slots) return true;
    if (this.alloc.kind === 'local' && this.alloc.oversubscribe) {
      if (!this.withinRankLimit(specs, ranks)) return false;
      notes.push(`oversubscribed: ${ranks} ranks on ${slots} slots`);
      return true;
    }
    const reason =
      this.alloc.kind === 'local'
        ? `needs ${ranks} ranks, the allocation has ${slots} slots (enable distest.local.oversubscribe to run anyway)`
        : `needs ${ranks} ranks, allocation ${allocationLabel(this.alloc)} has ${slots} ${this.alloc.kind === 'slurm' ? 'tasks' : 'slots'}`;
    for (const s of specs) this.plan.skipped.push({ id: s.id, reason });
    return false;
  }

  /** Whether the local machine may start `ranks` at all (distest.local.maxRanksPerSlot); else files the tests as errored. */
  private withinRankLimit(specs: TestSpec[], ranks: number): boolean {
    if (this.alloc.kind !== 'local') return true;
    const perSlot = this.alloc.maxRanksPerSlot ?? DEFAULT_MAX_RANKS_PER_SLOT;
    const slots = this.alloc.slots;
    if (perSlot === 0 || ranks <= slots * perSlot) return true;
    const reason =
      `needs ${ranks} ranks, more than ${perSlot}× the ${slots} slots of the local machine (${slots * perSlot} ranks at most); ` +
      'raise distest.local.maxRanksPerSlot (0: no limit) to run it anyway';
    for (const s of specs) this.plan.errored.push({ id: s.id, reason });
    return false;
  }

  /** The MPI install, or null after filing the tests as errored (no MPI) or skipped (too few slots). */
  private requireMpi(specs: TestSpec[], ranks: number, notes: string[]): MpiInstall | null {
    const alloc = this.alloc as LocalAllocation | HostsAllocation;
    const mpi = alloc.mpi;
    if (!mpi) {
      const reason = alloc.mpiProblem ?? `no mpirun or mpiexec found on ${alloc.host.name}`;
      for (const s of specs) this.plan.errored.push({ id: s.id, reason: `needs ${ranks} ranks: ${reason}` });
      return null;
    }
    return this.fits(specs, ranks, notes) ? mpi : null;
  }

  /**
   * How this MPI flavour is told the rank count and the hosts, to tag output lines, whether to
   * oversubscribe, and what reaches ranks on other machines.
   */
  private mpiLauncher(mpi: MpiInstall, ranks: number): MpiLaunch {
    const hosts = this.alloc.kind === 'hosts' ? this.alloc.hosts.map(h => `${h.name}:${h.slots}`).join(',') : null;
    switch (mpi.flavour) {
      case 'openmpi': {
        const asRoot = this.opts.asRoot ?? process.getuid?.() === 0;
        // mpirun hands remote ranks only the OMPI_* variables unless each other one is named with -x.
        const forward = hosts ? ['--host', hosts, ...Object.keys(this.baseEnv).flatMap(name => ['-x', name])] : [];
        return {
          tagFlags: ['--tag-output', '-tag-output'],
          placement: this.mayShareCores(ranks) ? [...forward, '--bind-to', 'none'] : forward,
          countFlag: '-np',
          oversubscribe: this.alloc.kind === 'local' && ranks > Math.min(this.alloc.slots, this.alloc.cpus ?? Infinity),
          tagStyle: 'openmpi',
          ...(hosts ? { hostList: hosts } : {}),
          env: asRoot ? { ...this.baseEnv, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } : this.baseEnv,
        };
      }
      case 'mpich':
      case 'intel':
        // Hydra (MPICH, Intel MPI) runs more ranks than cores without being asked, and passes the whole
        // environment to every rank by default.
        return { tagFlags: ['-prepend-rank', '-l'], placement: hosts ? ['-hosts', hosts] : [], countFlag: '-n', oversubscribe: false, tagStyle: 'mpich', env: this.baseEnv, ...(hosts ? { hostList: hosts } : {}) };
      case 'unknown':
        return { tagFlags: [], placement: hosts ? ['-host', hosts] : [], countFlag: '-n', oversubscribe: false, tagStyle: 'none', env: this.baseEnv, ...(hosts ? { hostList: hosts } : {}) };
    }
  }
}

/** pytest_parallel's schedulers that start MPI processes themselves, and how. */
const SELF_LAUNCHING_SCHEDULERS = new Map([
  ['dynamic', 'spawns a scheduling process with MPI_Comm_spawn, which finds no free slot in the world distest starts and waits for one'],
  ['shell', 'runs pytest once and starts mpirun for every test itself'],
  ['slurm', 'runs pytest once and submits every test with sbatch itself'],
]);

/**
 * Why the pytest arguments cannot run under distest's launcher, or null. Distest starts a world of each
 * rank count under mpirun/srun, where pytest_parallel's `sequential` (its default) and `static`
 * schedulers run; the others refuse to (shell, slurm) or hang (dynamic) there.
 */
function selfLaunchingScheduler(args: string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--scheduler=') ? args[i].slice('--scheduler='.length) : args[i] === '--scheduler' ? args[i + 1] : undefined;
    const why = name === undefined ? undefined : SELF_LAUNCHING_SCHEDULERS.get(name);
    if (why) {
      return `pytest_parallel's --scheduler=${name} (in distest.pytestArgs) ${why}; distest starts the ranks of each count itself: ` +
        'remove it, or use --scheduler=sequential (the default) or --scheduler=static';
    }
  }
  return null;
}

/** Whether pytest arguments already load (or block, `-p no:...`) a plugin of this package. */
function namesPlugin(args: string[], pkg: string): boolean {
  return args.some((arg, i) => {
    const value = arg === '-p' ? args[i + 1] : arg.startsWith('-p') ? arg.slice(2).replace(/^=/, '') : undefined;
    return value !== undefined && value.replace(/^no:/, '').split('.')[0] === pkg;
  });
}

interface Launcher { argv: string[]; tagStyle: TagStyle; env: Record<string, string>; hostList?: string }

interface MpiLaunch { tagFlags: string[]; placement: string[]; countFlag: string; oversubscribe: boolean; tagStyle: TagStyle; env: Record<string, string>; hostList?: string }

const HOST_FLAGS = new Set(['--host', '-host', '-hosts', '--hosts']);

/** The step on these hosts' slots only (`--host a:2`): a launch beside others on a host list. Pure. */
export function placeStep(step: LaunchStep, hosts: { name: string; slots: number }[]): LaunchStep {
  if (!step.hostList || !hosts.length) return step;
  const list = hosts.map(h => `${h.name}:${h.slots}`).join(',');
  const argv = step.argv.map((word, i) => (i > 0 && word === step.hostList && HOST_FLAGS.has(step.argv[i - 1]) ? list : word));
  return { ...step, argv, hostList: list };
}

/** A `perTestArgs` step's argv: the words before its tests', and one word per test, in its tests' order. */
function perTestArguments(step: LaunchStep): { prefix: string[]; words: string[] } {
  const at = step.argv.length - step.tests.length;
  return { prefix: step.argv.slice(0, at), words: step.argv.slice(at) };
}

/** The variable holding the ids `selectByFiles` hands the ranks' pytest (agent/distest_pytest.py). */
export const SELECT_VARIABLE = 'DISTEST_SELECT';
/** Beyond this the ids stay on the command line: Linux holds one environment string to 128 KiB. */
const MAX_SELECT_BYTES = 64 * 1024;

/**
 * A pytest step whose tests reach pytest as their files, with their ids in DISTEST_SELECT for the agent
 * to keep, as the ids would (pytest matches each node id argument on its own: ~0.3 ms a test). Unchanged
 * for a single test, for names that travel encoded, whose file part holds `[` or `]` or does not end in
 * `.py` (a `::` in a file name), and for ids beyond MAX_SELECT_BYTES. Pure.
 */
export function selectByFiles(step: LaunchStep): LaunchStep {
  if (!step.perTestArgs || step.tests.length < 2) return step;
  const { prefix, words } = perTestArguments(step);
  const files = words.map(word => word.split('::')[0]);
  if (words.some((word, i) => word.startsWith(FS_NAME_ARGUMENT_PREFIX) || /[[\]]/.test(files[i]) || !files[i].endsWith('.py'))) return step;
  const ids = JSON.stringify(step.tests.map(t => t.id));
  if (Buffer.byteLength(ids) > MAX_SELECT_BYTES) return step;
  return { ...step, argv: [...prefix, ...new Set(files)], env: { ...step.env, [SELECT_VARIABLE]: ids }, perTestArgs: false };
}

/** A step of `perTestArgs` split into launches of these parts of its tests (each part keeps its order). Pure. */
export function splitStep(step: LaunchStep, parts: string[][]): LaunchStep[] {
  if (!step.perTestArgs || parts.length <= 1) return [step];
  const { prefix, words } = perTestArguments(step);
  const argOf = new Map(step.tests.map((t, i) => [t.id, words[i]]));
  const byId = new Map(step.tests.map(t => [t.id, t]));
  return parts.filter(part => part.length).map((part, i, all) => ({
    ...step,
    argv: [...prefix, ...part.map(id => argOf.get(id) as string)],
    env: { ...step.env },
    tests: part.map(id => byId.get(id) as ExpectedTest),
    note: [step.note, `part ${i + 1} of ${all.length} (packed beside other launches)`].filter(Boolean).join('; '),
  }));
}

type BatchShape = { kind: 'files' } | { kind: 'python-file'; pythonAt: number };

const PYTHON_PROGRAM = /^(python|pypy)[\d.]*$/;

/**
 * How a template runs several files in one launch, or null (one launch per file): it names `{files}`
 * (and not `{file}`), or it ends in `{python} {file}` (optionally `{tests}`) with `{file}` nowhere else,
 * which distest runs as `{python} -m distest_unittest --file A ... --file B ...`. `"batch": false` opts out.
 */
export function batchShape(template: LauncherTemplate, split?: string[]): BatchShape | null {
  if (template.batch === false) return null;
  const words = split ?? safeSplit(template.launcher);
  if (!words) return null;
  if (usesPlaceholder(words, 'files')) return usesPlaceholder(words, 'file') ? null : { kind: 'files' };
  let end = words.length;
  if (words[end - 1] === '{tests}') end--;
  const pythonAt = end - 2;
  if (pythonAt < 0 || words[end - 1] !== '{file}' || words.slice(0, end - 1).some(w => w.includes('{file}') || w.includes('{tests}'))) return null;
  const python = words[pythonAt];
  if (python !== '{python}' && !PYTHON_PROGRAM.test(path.basename(python))) return null;
  return { kind: 'python-file', pythonAt };
}

/** `tests/x.py::TestWorld::test_size` → `TestWorld.test_size`, the name unittest's command line takes. */
function unittestName(spec: TestSpec): string {
  const rest = spec.id.startsWith(`${spec.file}::`) ? spec.id.slice(spec.file.length + 2) : spec.id;
  return rest.split('::').join('.');
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

function argBytes(arg: string): number {
  return Buffer.byteLength(arg) + 1;
}

/** Splits items into runs whose argv (prefix + each item's args) stays under `max` bytes; never empty runs. */
function chunkByBytes<T>(items: T[], prefix: string[], argsOf: (item: T) => string[], max: number): T[][] {
  const prefixBytes = prefix.reduce((n, a) => n + argBytes(a), 0);
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = prefixBytes;
  for (const item of items) {
    const itemBytes = argsOf(item).reduce((n, a) => n + argBytes(a), 0);
    if (current.length && bytes + itemBytes > max) {
      chunks.push(current);
      current = [];
      bytes = prefixBytes;
    }
    current.push(item);
    bytes += itemBytes;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
