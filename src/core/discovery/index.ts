// Python test discovery without running Python: tree-sitter parse → TestSpec, for pytest, pytest_parallel,
// pytest-mpi and unittest files run under a launcher template.
export { DEFAULT_DISCOVERY_CONFIG, DEFAULT_TEST_FILE_PATTERNS, isTestFile, type DiscoveryConfig } from './config';
export { PythonTestParser, type ParserOptions } from './parser';
export { discoverFolder, findTestFiles, serveDiscoveryWorker, type DiscoverFolderOptions } from './folder';
export type { CollectContext, CollectedFile, MarkerInfo } from './collect';
export { loadPytestRules, type PytestRules } from './rules';
