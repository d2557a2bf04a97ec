import type { AgentRecord, Fault, Location, PytestOutcome, RankHello, RankRecord, ResultMessage, TestResult } from '../types';
import { describeLauncherFailure, parseLauncherFailure, type LauncherFailure } from './launcherFailure';

/** A test a launch was asked to run, with the rank count it was launched for (0: the launcher decides). */
export interface ExpectedTest { id: string; ranks: number }

export interface LaunchOutcome {
  exitCode: number | null;
  signal: string | null;
  cancelled?: boolean;
  timedOut?: boolean;
  /** The limit that ran out, for the `timed out after …` message. */
  timeoutMs?: number;
  /** The launcher's own output (untagged lines), e.g. mpirun's `process rank 1 ... exited on signal 11`. */
  launcherText?: string;
  /**
   * What stopped a rank before it reported, in its own words, ready to read (`ModuleNotFoundError: No
   * module named 'mpi4py' (rank 1 on node2, python /usr/bin/python3)`): named instead of the launcher's
   * report, which only knows the exit code or the SIGTERM it sent.
   */
  rankProblems?: Map<number, string>;
  /** The ranks' python: an import error a rank reports names it beside the rank's host, as `rankProblems` do. */
  python?: string;
}

type RankState = 'passed' | 'skipped' | 'failed' | 'error' | 'missing';

/** Everything the records say, indexed for per-test lookups. */
class Evidence {
  readonly hellos = new Map<number, RankHello>();
  readonly byes = new Set<number>();
  readonly starts = new Map<string, Set<number>>();
  readonly results = new Map<string, Map<number, RankRecord[]>>();

  constructor(records: AgentRecord[]) {
    for (const record of records) {
      switch (record.kind) {
        case 'hello': this.hellos.set(record.rank, record); break;
        case 'bye': this.byes.add(record.rank); break;
        case 'start': getOrSet(this.starts, record.test, () => new Set()).add(record.rank); break;
        case 'result': getOrSet(getOrSet(this.results, record.test, () => new Map()), record.rank, () => []).push(record); break;
      }
    }
  }

  /**
   * A rank's records for the test, else those of its parametrizations (`test_x` whose rank count only
   * the run knows runs as pytest's `test_x[4]`), else those of an enclosing file or class (collection
   * or fixture errors).
   */
  recordsFor(id: string, rank: number): RankRecord[] {
    const own = this.results.get(id)?.get(rank);
    if (own) return own;
    const parametrized = [...this.results].filter(([test]) => isParametrizationOf(test, id)).flatMap(([, byRank]) => byRank.get(rank) ?? []);
    if (parametrized.length) return parametrized;
    const parts = id.split('::');
    for (let depth = parts.length - 1; depth > 0; depth--) {
      const enclosing = this.results.get(parts.slice(0, depth).join('::'))?.get(rank);
      if (enclosing) return enclosing;
    }
    return [];
  }

  /** Ranks that should report on the test: the launched count, and any rank that collected or ran it. */
  ranksFor(test: ExpectedTest): number[] {
    const ranks = new Set<number>();
    for (let r = 0; r < test.ranks; r++) ranks.add(r);
    for (const rank of this.results.get(test.id)?.keys() ?? []) ranks.add(rank);
    for (const hello of this.hellos.values()) if (hello.tests.includes(test.id)) ranks.add(hello.rank);
    if (ranks.size === 0) for (const rank of this.hellos.keys()) ranks.add(rank);
    return [...ranks].sort((a, b) => a - b);
  }

  worldSize(test: ExpectedTest, ranks: number[]): number {
    let size = Math.max(test.ranks, ranks.length ? ranks[ranks.length - 1] + 1 : 0);
    for (const rank of ranks) size = Math.max(size, this.hellos.get(rank)?.size ?? 0);
    return size;
  }
}

function isParametrizationOf(test: string, id: string): boolean {
  return test.length > id.length && test.startsWith(id) && test[id.length] === '[';
}

function getOrSet<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

function rankState(records: RankRecord[]): RankState {
  if (records.length === 0) return 'missing';
  if (records.some(r => r.outcome === 'error')) return 'error';
  if (records.some(r => r.outcome === 'failed')) return 'failed';
  if (records.some(r => r.outcome === 'skipped')) return 'skipped';
  return 'passed';
}

/** Rank lists longer than this are written as ranges (`ranks 0-63, 65-127`). */
const RANKS_IN_FULL = 8;
const MAX_RANGES = 20;

/** `rank 3`, `ranks 0, 2, 3`, or for many ranks `ranks 0-99, 101-4095 (4095 ranks)`, in the order given. */
export function rankList(ranks: number[]): string {
  if (ranks.length <= RANKS_IN_FULL) return `${ranks.length === 1 ? 'rank' : 'ranks'} ${ranks.join(', ')}`;
  const ranges: string[] = [];
  for (let i = 0; i < ranks.length; i++) {
    let end = i;
    while (end + 1 < ranks.length && ranks[end + 1] === ranks[end] + 1) end++;
    ranges.push(end > i ? `${ranks[i]}-${ranks[end]}` : String(ranks[i]));
    i = end;
  }
  const shown = ranges.length > MAX_RANGES ? [...ranges.slice(0, MAX_RANGES), '…'] : ranges;
  return `ranks ${shown.join(', ')} (${ranks.length} ranks)`;
}

function formatDuration(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function failureMessage(record: RankRecord, test: string, of: string, python: string | undefined): ResultMessage {
  const [first, ...rest] = (record.message ?? `${record.outcome} in ${record.phase}`).split('\n');
  const param = isParametrizationOf(record.test, test) ? `${record.test.slice(test.length)} ` : '';
  const where = record.test !== test && !param ? `error collecting ${record.test}: `
    : record.phase !== 'call' ? `${param}error in ${record.phase}: ` : param;
  // A module one rank cannot import depends on that rank's node and python: name them.
  const whose = /^(ModuleNotFoundError|ImportError)\b/.test(first) ? ` (rank ${record.rank} on ${record.host}${python ? `, python ${python}` : ''})` : '';
  const at = record.location ? ` at ${record.location.file}:${record.location.line}` : '';
  const lines = [`rank ${record.rank} ${of}: ${where}${first}${whose}${at}`, ...rest];
  if (record.text) lines.push('', record.text.replace(/\n+$/, ''));
  const message: ResultMessage = { rank: record.rank, text: lines.join('\n') };
  if (record.location) Object.assign(message, { file: record.location.file, line: record.location.line });
  return message;
}

/** Why a rank has nothing for the test, from its hello/start/bye and the launcher's report. */
function missingMessage(evidence: Evidence, test: string, rank: number, of: string, failures: Map<number, LauncherFailure>,
  outcome: LaunchOutcome): ResultMessage {
  const hello = evidence.hellos.get(rank);
  let subject: string;
  if (!hello) subject = `rank ${rank} ${of} never reported (it did not get as far as collecting tests)`;
  else if (evidence.starts.get(test)?.has(rank)) subject = `rank ${rank} ${of} never reported a result for this test it started`;
  else if (evidence.byes.has(rank) && !hello.tests.includes(test)) subject = `rank ${rank} ${of} did not collect this test`;
  else if (evidence.byes.has(rank)) subject = `rank ${rank} ${of} finished without running this test`;
  else subject = `rank ${rank} ${of} never reported: it did not get to this test`;
  const problem = outcome.rankProblems?.get(rank);
  if (problem) return { rank, text: `${subject}: ${problem}` };
  const failure = failures.get(rank);
  // MPI launchers end the whole job when one rank dies or exits non-zero: name that rank.
  const culprit = failure ? undefined : [...failures.values()].find(f => f.rank !== rank);
  let cause = '';
  if (failure) cause = `the launcher says it ${describeLauncherFailure(failure)}`;
  else if (culprit) cause = `the launcher ended the job after rank ${culprit.rank} ${describeLauncherFailure(culprit)}`;
  else if (outcome.signal) cause = `the launcher was killed by ${outcome.signal}`;
  else if (outcome.exitCode !== null && outcome.exitCode !== 0) cause = `the launcher exited with code ${outcome.exitCode}`;
  return { rank, text: cause ? `${subject}: ${cause}` : subject };
}

function aggregateOne(test: ExpectedTest, evidence: Evidence, failures: Map<number, LauncherFailure>, outcome: LaunchOutcome): TestResult {
  const ranks = evidence.ranksFor(test);
  const size = evidence.worldSize(test, ranks);
  const of = `of ${size}`;
  const states = new Map<number, RankState>();
  const messages: ResultMessage[] = [];
  const faults: Fault[] = [];
  let durationMs = 0;
  for (const rank of ranks) {
    const records = evidence.recordsFor(test.id, rank);
    states.set(rank, rankState(records));
    durationMs = Math.max(durationMs, records.filter(r => r.test === test.id || isParametrizationOf(r.test, test.id)).reduce((sum, r) => sum + r.durationMs, 0));
    for (const record of records) {
      if (record.outcome !== 'failed' && record.outcome !== 'error') continue;
      messages.push(failureMessage(record, test.id, of, outcome.python));
      if (record.test !== test.id && !isParametrizationOf(record.test, test.id) && record.location) faults.push(collectionFault(record));
    }
  }
  const having = (...wanted: RankState[]) => ranks.filter(r => wanted.includes(states.get(r) as RankState));
  const missing = having('missing');
  if (ranks.length === 0) {
    messages.push({ rank: null, text: outcome.cancelled ? 'cancelled' : 'no rank reported anything for this test' });
  } else if (missing.length && outcome.cancelled) {
    messages.push({ rank: null, text: 'cancelled' });
  } else if (missing.length && outcome.timedOut) {
    const limit = outcome.timeoutMs !== undefined ? ` after ${formatDuration(outcome.timeoutMs)}` : '';
    messages.push({ rank: null, text: `timed out${limit}: no result from ${rankList(missing)} ${of}` });
  } else {
    for (const rank of missing) messages.push(missingMessage(evidence, test.id, rank, of, failures, outcome));
  }

  const failedRanks = having('failed', 'error', 'missing');
  const skipped = having('skipped');
  let state: TestResult['state'];
  if (ranks.length === 0 || having('error', 'missing').length) state = 'errored';
  else if (failedRanks.length) state = 'failed';
  else if (skipped.length === ranks.length) state = 'skipped';
  else state = 'passed';

  if (skipped.length && !failedRanks.length) {
    const reasons = skipped.map(rank => evidence.recordsFor(test.id, rank).find(r => r.outcome === 'skipped') as RankRecord);
    const distinct = [...new Set(reasons.map(r => r.message ?? 'skipped'))];
    const first = reasons[0];
    const where = first.location ? { file: first.location.file, line: first.location.line } : {};
    if (state === 'skipped' && distinct.length === 1) {
      messages.push({ rank: null, text: distinct[0], ...where });
    } else if (state === 'skipped') {
      for (const r of reasons) messages.push({ rank: r.rank, text: `rank ${r.rank} ${of}: ${r.message ?? 'skipped'}` });
    } else {
      messages.push({ rank: null, text: `skipped on ${rankList(skipped)} ${of} (${distinct.join('; ')}); passed on the others`, ...where });
    }
  }
  const pytestOutcome = sharedPytestOutcome(ranks.map(rank => evidence.recordsFor(test.id, rank)), state);
  return { id: test.id, ranks: test.ranks, state, durationMs, failedRanks, messages, ...(faults.length ? { faults } : {}), ...(pytestOutcome ? { pytestOutcome } : {}) };
}

/** pytest's xfailed / xpassed when every rank's records say the same and the state agrees with it. */
function sharedPytestOutcome(perRank: RankRecord[][], state: TestResult['state']): PytestOutcome | undefined {
  const outcomes = new Set(perRank.map(records => records.find(r => r.pytestOutcome)?.pytestOutcome));
  if (outcomes.size !== 1) return undefined;
  const [outcome] = outcomes;
  if (outcome === 'xfailed' && state === 'skipped') return outcome;
  if (outcome === 'xpassed' && (state === 'passed' || state === 'failed')) return outcome;
  return undefined;
}

/** A file or class that failed to collect, as a fault at its line: the editor shows it as a Problem on that file. */
function collectionFault(record: RankRecord): Fault {
  const { file, line } = record.location as Location;
  return { kind: 'collection', rank: record.rank, host: record.host, file, line, stack: [] };
}

/**
 * One result per expected test, in the order given. A test passes only if every rank passed; a rank
 * that never reported makes it errored, named with the launcher's reason when it gave one; errors
 * (setup, teardown, collection) make it errored; otherwise any failed rank fails it. Skipped on every
 * rank is skipped; skipped on some and passed on the rest (pytest_parallel skips ranks outside a
 * sub-communicator) is passed, with a message saying so. durationMs is the slowest rank's sum of phases.
 */
export function aggregate(expected: ExpectedTest[], records: AgentRecord[], outcome: LaunchOutcome): TestResult[] {
  const evidence = new Evidence(records);
  const failures = new Map(parseLauncherFailure(outcome.launcherText ?? '').map(f => [f.rank, f]));
  return expected.map(test => aggregateOne(test, evidence, failures, outcome));
}
