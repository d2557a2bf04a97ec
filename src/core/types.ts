// The seams between discovery, launch, rank streams and results. Every layer speaks these types; the
// editor adapters and the CLI only translate them.

export type Framework = 'pytest_parallel' | 'pytest-mpi' | 'pytest' | 'unittest';

/** A launcher template from the `distest.launchers` setting, applied to files matching `glob`. */
export interface LauncherTemplate {
  glob: string;
  /** argv template, e.g. `mpiexec -n {ranks} {python} {file}` or `dragon {file} -f -v`. */
  launcher: string;
  /** Rank count to run with; 0 means the launcher decides (shown as dynamic). */
  ranks?: number;
  /** `false`: one launch per file even where the template could run several files in one launch. */
  batch?: boolean;
}

/** A 1-based line and 0-based column, as editors and pytest tracebacks both name lines. */
export interface SourceRange { line: number; column: number; endLine: number; endColumn: number }

/** The last part of a test id, its name as pytest shows it (`f.py::TestA::test_x[2]` → `test_x[2]`); an id without `::` whole. */
export function testName(id: string): string {
  const at = id.lastIndexOf('::');
  return at < 0 ? id : id.slice(at + 2);
}

/**
 * One runnable item. For a pytest_parallel list `parallel([2, 4])` there is one TestSpec per count
 * (`test_x[2]`, `test_x[4]`), all sharing `groupId` (the id without the rank suffix) so the editor
 * can show one parent with a child per count.
 */
export interface TestSpec {
  /** pytest node id relative to the discovery root, e.g. `tests/test_halo.py::TestX::test_y[2-False]`. */
  id: string;
  /** The id of the parent item when a test expands into several ids (parametrize, rank lists). */
  groupId?: string;
  /** Display name of the leaf (function name, plus `[...]` suffix when parametrized). */
  label: string;
  /** Path relative to the discovery root, forward slashes. */
  file: string;
  range: SourceRange;
  framework: Framework;
  /** Rank count, or null when only the run can decide (see `dynamic`). */
  ranks: number | null;
  /** Why the parser could not decide the rank count statically; absent when decided. */
  dynamic?: string;
  /** Marker problem that makes this test unrunnable (shown errored, never hidden). */
  invalid?: string;
  /** For unittest-style files run under a launcher template. */
  launcher?: LauncherTemplate;
  /** Enclosing class, for `path::Class::test` ids. */
  className?: string;
  /** Wall-clock limit from `@pytest.mark.timeout(S)`; absent means the `distest.timeoutSeconds` setting. */
  timeoutSeconds?: number;
  /**
   * The folder pytest runs this test from, relative to the discovery root: a folder below with its own
   * configuration file (pytest.ini, ...), whose rules apply to it. Absent: the discovery root itself.
   */
  testRoot?: string;
}

export type Severity = 'error' | 'warning' | 'info';

/** A problem with a marker, at a source range (0-based columns, 1-based lines). */
export interface MarkerDiagnostic {
  file: string;
  range: SourceRange;
  severity: Severity;
  message: string;
  /**
   * `syntax-error`: the file does not parse, so every test in it errors at collection. `runtime-names`:
   * the module makes names at run time, so only pytest can list all its tests.
   */
  code?: 'syntax-error' | 'runtime-names';
}

export interface FileDiscovery { file: string; tests: TestSpec[]; diagnostics: MarkerDiagnostic[] }

export type Outcome = 'passed' | 'failed' | 'skipped' | 'error';
export type Phase = 'setup' | 'call' | 'teardown';

export interface Location { file: string; line: number }

/** One framed record emitted by the agent: one test, one rank, one phase. */
export interface RankRecord {
  kind: 'result';
  rank: number;
  size: number;
  host: string;
  test: string;
  phase: Phase;
  outcome: Outcome;
  durationMs: number;
  location?: Location;
  /** Exception line(s), e.g. `AssertionError: assert 1 == 0`, or the skip reason. */
  message?: string;
  /** Full traceback text. */
  text?: string;
  /** pytest's own outcome where distest's states have none: an xfail (skipped) or an xpass (passed, or failed when strict). */
  pytestOutcome?: PytestOutcome;
}

export type PytestOutcome = 'xfailed' | 'xpassed';

/** Sent by the agent once per rank at start, so ranks that never report can be named. */
export interface RankHello { kind: 'hello'; rank: number; size: number; host: string; pid: number; tests: string[] }

/** Sent when a test starts on a rank, so the output that follows can be attributed to it. */
export interface RankStart { kind: 'start'; rank: number; test: string }

/** Sent when the agent finished all its tests on that rank. */
export interface RankBye { kind: 'bye'; rank: number }

/**
 * A Debug run's rank under debugpy (agent/distest_debug.py): `listening` on loopback `port` of `host`,
 * then `attached` (a client's configurationDone) or `unattended` (the wait ran out); `error` with a
 * message when debugpy is missing or cannot listen.
 */
export interface RankDebug {
  kind: 'debug';
  event: 'listening' | 'attached' | 'unattended' | 'error';
  rank: number;
  size: number;
  host: string;
  pid: number;
  port?: number;
  message?: string;
}

export type AgentRecord = RankRecord | RankHello | RankStart | RankBye | RankDebug;

export type TestState = 'passed' | 'failed' | 'skipped' | 'errored';

export interface ResultMessage { rank: number | null; text: string; file?: string; line?: number }

/** One test's outcome across all its ranks. */
export interface TestResult {
  id: string;
  ranks: number;
  state: TestState;
  durationMs: number;
  failedRanks: number[];
  messages: ResultMessage[];
  /** Hangs, fatal signals and core files behind an errored state, one per rank (see core/faults). */
  faults?: Fault[];
  /** pytest's xfail/xpass, when every rank's call ended so (state skipped for xfailed; passed, or failed if strict, for xpassed). */
  pytestOutcome?: PytestOutcome;
}

/** A Python or native frame, innermost first in a stack. */
export interface StackFrame { file: string; line: number; function: string }

/** What went wrong on one rank beyond an ordinary test failure. */
export interface Fault {
  /** `collection`: the test's file or class failed to import or collect (syntax error, missing module). */
  kind: 'hang' | 'signal' | 'core' | 'collection';
  rank: number;
  host: string;
  /** `SIGSEGV`, for signal and core faults. */
  signal?: string;
  /** Path of the core file on `host`. */
  core?: string;
  /** The innermost frame in the user's workspace (relative path when inside the root). */
  file?: string;
  line?: number;
  /** Innermost first. */
  stack: StackFrame[];
}
