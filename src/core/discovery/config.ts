import { Minimatch } from 'minimatch';
import type { LauncherTemplate } from '../types';
import { DEFAULT_PYTHON_FILES } from './rules';

export interface DiscoveryConfig {
  /** unittest-style files: a file matching `glob` (relative to the root) runs under the launcher template. */
  launchers: LauncherTemplate[];
  /** Rank count for a bare `@pytest.mark.mpi` (no `min_size`). */
  mpiDefaultRanks: number;
}

/** A DiscoveryConfig with its globs compiled once; cached per config object. */
export interface CompiledConfig {
  config: DiscoveryConfig;
  launcherFor(relFile: string): LauncherTemplate | undefined;
  isTestFile(relFile: string): boolean;
}

const compiledConfigs = new WeakMap<DiscoveryConfig, CompiledConfig>();

const globOptions = { dot: true, nocomment: true } as const;

/**
 * A glob as one RegExp (minimatch's per-call matching is too slow for every file of a large tree). A
 * pattern without `/` matches the file name at any depth, as pytest's python_files does.
 */
function compileGlob(pattern: string): (relPath: string) => boolean {
  const made = new Minimatch(pattern, globOptions).makeRe();
  if (!made) return () => false;
  // minimatch's `**` is built from `.`, which stops at a newline; a file name may hold one (fnmatch matches it too).
  const re = new RegExp(made.source, `${made.flags}s`);
  if (pattern.includes('/')) return relPath => re.test(relPath);
  return relPath => re.test(relPath.slice(relPath.lastIndexOf('/') + 1));
}

export function compileConfig(config: DiscoveryConfig): CompiledConfig {
  let compiled = compiledConfigs.get(config);
  if (compiled) return compiled;
  const launchers = config.launchers.map(template => ({ template, matches: compileGlob(template.glob) }));
  const testFiles = DEFAULT_PYTHON_FILES.map(compileGlob);
  const launcherFor = (relFile: string) => launchers.find(l => l.matches(relFile))?.template;
  compiled = {
    config,
    launcherFor,
    isTestFile: relFile => relFile.endsWith('.py') && (launcherFor(relFile) !== undefined || testFiles.some(matches => matches(relFile))),
  };
  compiledConfigs.set(config, compiled);
  return compiled;
}
