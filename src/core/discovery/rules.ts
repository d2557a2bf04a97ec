// The collection rules pytest applies when started in the workspace folder without arguments, read from
// its configuration as pytest 7 reads it (config/findpaths.py, config/__init__.py, main.py, python.py):
// which inifile and rootdir, where collection starts, which folders and files it skips, what names it
// takes for tests. Plain data, so helper threads get the same rules as the calling thread.
import fs from 'node:fs';
import path from 'node:path';
import type { MarkerDiagnostic } from '../types';
import { locatePytestConfig, type ConfigProblem, type IniValue } from './configFiles';
import { fnmatchEx, fnmatchRegExp, shlexSplit, ShlexError } from './pyText';

export interface PytestRules {
  /** The workspace folder (pytest's invocation directory), absolute. */
  root: string;
  rootdir: string;
  inifile?: string;
  /** Where collection starts, absolute: testpaths, positional arguments in addopts, or the folder itself. */
  args: string[];
  pythonFiles: string[];
  pythonClasses: string[];
  pythonFunctions: string[];
  norecursedirs: string[];
  /** `--ignore` paths and `--ignore-glob` patterns from addopts, absolute. */
  ignore: string[];
  ignoreGlob: string[];
  /** `--deselect` node id prefixes (relative to the rootdir, as pytest compares them). */
  deselect: string[];
  /** The ini option `usefixtures`: fixtures every test requests. */
  usefixtures: string[];
  /** Parameter ids keep non-ASCII text (`disable_test_id_escaping_and_forfeit_all_rights_to_community_support`). */
  keepNonAsciiIds: boolean;
  /** Only conftest.py files in this folder and below are read (the inifile's folder, or `--confcutdir`). */
  confcutdir?: string;
  noconftest: boolean;
  collectInVirtualenv: boolean;
  /** Problems with the configuration, on files inside the workspace folder. */
  diagnostics: MarkerDiagnostic[];
}

export const PYTEST_DEFAULT_NORECURSEDIRS = ['*.egg', '.*', '_darcs', 'build', 'CVS', 'dist', 'node_modules', 'venv', '{arch}'];
/** pytest's default python_files. */
export const DEFAULT_PYTHON_FILES = ['test_*.py', '*_test.py'];

/** pytest's own options that take a value, so that the value is not taken for a path in addopts. */
const OPTIONS_WITH_VALUE = new Set([
  '-k', '-m', '-p', '-c', '-o', '-W', '-r', '--tb', '--maxfail', '--basetemp', '--confcutdir', '--rootdir', '--ignore',
  '--ignore-glob', '--deselect', '--import-mode', '--capture', '--durations', '--durations-min', '--junitxml', '--junit-xml',
  '--junit-prefix', '--log-level', '--log-format', '--log-date-format', '--log-cli-level', '--log-cli-format',
  '--log-cli-date-format', '--log-file', '--log-file-level', '--log-file-format', '--log-file-date-format', '--show-capture',
  '--color', '--code-highlight', '--pastebin', '--override-ini', '--config-file', '--pythonwarnings', '--assert',
  '--last-failed-no-failures', '--lfnf', '--verbosity', '--doctest-glob', '--doctest-report', '--cov', '--cov-report',
  '--cov-config', '-n', '--dist', '--timeout', '--reruns', '--html', '--scheduler',
]);

/** Reads the rules for a workspace folder: its inifile (walking up, as pytest does) and the options distest honours. */
export function loadPytestRules(root: string): PytestRules {
  const problems: ConfigProblem[] = [];
  const diagnostics: MarkerDiagnostic[] = [];
  const inifile = locatePytestConfig(root, problems);
  const rootdir = inifile ? path.dirname(inifile.path) : rootdirWithoutInifile(root);
  const option = (name: string) => inifile?.options.get(name);
  const report = (line: number, severity: MarkerDiagnostic['severity'], message: string) => {
    if (inifile) problems.push({ path: inifile.path, line, message, severity });
  };
  const args = (name: string, fallback: string[]): string[] => {
    const entry = option(name);
    if (!entry) return fallback;
    if (Array.isArray(entry.value)) return entry.value;
    try {
      return shlexSplit(entry.value);
    } catch (err) {
      if (!(err instanceof ShlexError)) throw err;
      report(entry.line, 'error', `${name}: ${err.message} (pytest stops with this error)`);
      return fallback;
    }
  };

  const rules: PytestRules = {
    root,
    rootdir,
    inifile: inifile?.path,
    args: [],
    pythonFiles: args('python_files', DEFAULT_PYTHON_FILES),
    pythonClasses: args('python_classes', ['Test']),
    pythonFunctions: args('python_functions', ['test']),
    norecursedirs: args('norecursedirs', PYTEST_DEFAULT_NORECURSEDIRS),
    ignore: [],
    ignoreGlob: [],
    deselect: [],
    usefixtures: args('usefixtures', []),
    keepNonAsciiIds: iniBool(option('disable_test_id_escaping_and_forfeit_all_rights_to_community_support')?.value),
    confcutdir: inifile ? rootdir : undefined,
    noconftest: false,
    collectInVirtualenv: false,
    diagnostics,
  };

  const positional = readAddopts(rules, args('addopts', []), option('addopts')?.line ?? 1, report);
  rules.args = positional.length ? positional : startingPoints(rules, args('testpaths', []));

  for (const problem of problems) {
    const rel = path.relative(root, problem.path);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    diagnostics.push({ file: rel.split(path.sep).join('/'), range: { line: problem.line, column: 0, endLine: problem.line, endColumn: 1 }, severity: problem.severity, message: problem.message });
  }
  return rules;
}

/**
 * Without an inifile pytest looks for setup.py upwards and otherwise settles on the invocation folder;
 * either way ids stay relative to the workspace folder for distest, so only the rootdir moves.
 */
function rootdirWithoutInifile(root: string): string {
  for (let dir = root; ; dir = path.dirname(dir)) {
    if (isFile(path.join(dir, 'setup.py'))) return dir;
    if (path.dirname(dir) === dir) return root;
  }
}

/** The options of addopts that change what is collected; returns its positional paths (absolute). */
function readAddopts(rules: PytestRules, words: string[], line: number, report: (line: number, severity: MarkerDiagnostic['severity'], message: string) => void): string[] {
  const positional: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith('-') || word === '-') {
      const candidate = path.resolve(rules.root, word);
      if (fs.existsSync(candidate)) positional.push(candidate);
      continue;
    }
    const equals = word.indexOf('=');
    let name = word.startsWith('--') && equals > 0 ? word.slice(0, equals) : word;
    let value: string | undefined = word.startsWith('--') && equals > 0 ? word.slice(equals + 1) : undefined;
    if (!word.startsWith('--') && word.length > 2 && OPTIONS_WITH_VALUE.has(word.slice(0, 2))) {
      name = word.slice(0, 2);
      value = word.slice(2);
    }
    if (value === undefined && OPTIONS_WITH_VALUE.has(name)) value = words[++i];
    if (value === undefined) {
      if (name === '--noconftest') rules.noconftest = true;
      else if (name === '--collect-in-virtualenv') rules.collectInVirtualenv = true;
      continue;
    }
    switch (name) {
      case '--ignore': rules.ignore.push(path.resolve(rules.root, value)); break;
      case '--ignore-glob': rules.ignoreGlob.push(path.resolve(rules.root, value)); break;
      case '--deselect': rules.deselect.push(value); break;
      case '--confcutdir': rules.confcutdir = path.resolve(rules.root, value); break;
      case '-k':
      case '-m':
        report(line, 'info', `addopts selects tests with ${name} ${JSON.stringify(value)}: distest lists every test and pytest deselects the others when they run`);
        break;
    }
  }
  return positional;
}

/** testpaths (globbed, as pytest 7 does) when the rootdir is the workspace folder; else the folder itself. */
function startingPoints(rules: PytestRules, testpaths: string[]): string[] {
  const found: string[] = [];
  if (path.resolve(rules.rootdir) === path.resolve(rules.root)) {
    for (const entry of testpaths) found.push(...globPaths(rules.root, entry).sort().map(p => path.resolve(rules.root, p)));
  }
  return found.length ? found : [rules.root];
}

/** Python's glob.glob(pattern, recursive=True) relative to base: names starting with `.` need a pattern that does. */
export function globPaths(base: string, pattern: string): string[] {
  const absolute = path.isAbsolute(pattern);
  const segments = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  let matches: string[] = [absolute ? '/' : ''];
  for (const [index, segment] of segments.entries()) {
    if (absolute && index === 0 && segment === '') continue;
    const next: string[] = [];
    const last = index === segments.length - 1;
    for (const prefix of matches) {
      const dir = path.resolve(base, prefix || '.');
      if (!/[*?[]/.test(segment)) {
        const candidate = prefix ? path.posix.join(prefix, segment) : segment;
        if (fs.existsSync(path.resolve(base, candidate))) next.push(candidate);
      } else if (segment === '**') {
        next.push(...descendants(dir, prefix, last));
      } else {
        const re = fnmatchRegExp(segment);
        for (const name of listDir(dir)) {
          if (name.startsWith('.') && !segment.startsWith('.')) continue;
          if (re.test(name)) next.push(prefix ? path.posix.join(prefix, name) : name);
        }
      }
    }
    matches = next;
  }
  return matches.filter(m => m !== '' && m !== '/');
}

/** `**`: the folder itself and every folder below it (files too when it is the last segment). */
function descendants(dir: string, prefix: string, withFiles: boolean): string[] {
  const out = [prefix];
  const visit = (absolute: string, relative: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(absolute, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const rel = relative ? path.posix.join(relative, entry.name) : entry.name;
      if (entry.isDirectory()) {
        out.push(rel);
        visit(path.join(absolute, entry.name), rel);
      } else if (withFiles) {
        out.push(rel);
      }
    }
  };
  visit(dir, prefix);
  return out;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** pytest's _strtobool of an ini value; anything else is false here (pytest would stop). */
function iniBool(value: IniValue | undefined): boolean {
  return typeof value === 'string' && ['y', 'yes', 't', 'true', 'on', '1'].includes(value.trim().toLowerCase());
}

/** The rules as matchers, compiled once per rules object. */
export interface CompiledRules {
  rules: PytestRules;
  /** python_files, for a file found while walking. */
  matchesPythonFiles(absolutePath: string): boolean;
  /** norecursedirs and `__pycache__`. */
  isExcludedDir(absolutePath: string): boolean;
  /** --ignore and --ignore-glob. */
  isIgnored(absolutePath: string): boolean;
  isTestClassName(name: string): boolean;
  isTestFunctionName(name: string): boolean;
  /** Whether `--deselect` drops this test (id relative to the workspace folder). */
  isDeselected(id: string): boolean;
}

const compiledRules = new WeakMap<PytestRules, CompiledRules>();

export function compileRules(rules: PytestRules): CompiledRules {
  let compiled = compiledRules.get(rules);
  if (compiled) return compiled;
  // Patterns on the file name (all of pytest's defaults) as one RegExp; patterns with a `/` on the path.
  const names = anyName(rules.pythonFiles.filter(p => !p.includes('/')));
  const pathPatterns = rules.pythonFiles.filter(p => p.includes('/')).map(fnmatchEx);
  // norecursedirs on the folder's name; a pattern with a `/` on its path.
  const excludedNames = anyName(rules.norecursedirs.filter(p => !p.includes('/')));
  const excludedPaths = rules.norecursedirs.filter(p => p.includes('/')).map(fnmatchEx);
  const ignoreGlobs = rules.ignoreGlob.map(fnmatchRegExp);
  const ignored = new Set(rules.ignore);
  const classNames = nameFilter(rules.pythonClasses);
  const functionNames = nameFilter(rules.pythonFunctions);
  const fromRootdir = path.relative(rules.rootdir, rules.root).split(path.sep).join('/');
  compiled = {
    rules,
    matchesPythonFiles: absolutePath => (names !== undefined && names.test(absolutePath.slice(absolutePath.lastIndexOf('/') + 1))) || pathPatterns.some(matches => matches(absolutePath)),
    isExcludedDir: absolutePath => absolutePath.endsWith('/__pycache__')
      || (excludedNames !== undefined && excludedNames.test(absolutePath.slice(absolutePath.lastIndexOf('/') + 1)))
      || excludedPaths.some(matches => matches(absolutePath)),
    isIgnored: ignored.size || ignoreGlobs.length ? absolutePath => ignored.has(absolutePath) || ignoreGlobs.some(re => re.test(absolutePath)) : () => false,
    isTestClassName: classNames,
    isTestFunctionName: functionNames,
    isDeselected: id => {
      if (!rules.deselect.length) return false;
      const nodeid = fromRootdir ? `${fromRootdir}/${id}` : id;
      return rules.deselect.some(prefix => nodeid.startsWith(prefix));
    },
  };
  compiledRules.set(rules, compiled);
  return compiled;
}

/** fnmatch patterns on a last path component as one RegExp, or undefined without patterns. */
function anyName(patterns: string[]): RegExp | undefined {
  return patterns.length ? new RegExp(`^(?:${patterns.map(p => fnmatchRegExp(p).source.slice(1, -1)).join('|')})$`, 'u') : undefined;
}

/** pytest's _matches_prefix_or_glob_option: a prefix, or an fnmatch pattern when it has `*`, `?` or `[`. */
function nameFilter(options: string[]): (name: string) => boolean {
  const globs = options.filter(o => /[*?[]/.test(o)).map(fnmatchRegExp);
  if (options.length === 1 && !globs.length) {
    const prefix = options[0];
    return name => name.startsWith(prefix);
  }
  return name => options.some(o => name.startsWith(o)) || globs.some(re => re.test(name));
}

/** Rules for a file discovered on its own, without its folder's configuration (pytest's defaults). */
export function defaultRules(root: string): PytestRules {
  return {
    root, rootdir: root, args: [root],
    pythonFiles: DEFAULT_PYTHON_FILES,
    pythonClasses: ['Test'], pythonFunctions: ['test'], norecursedirs: PYTEST_DEFAULT_NORECURSEDIRS,
    ignore: [], ignoreGlob: [], deselect: [], usefixtures: [], keepNonAsciiIds: false, noconftest: false,
    collectInVirtualenv: false, diagnostics: [],
  };
}

