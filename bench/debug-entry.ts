// Bundled by bench/debug.mjs into .bench/debug-entry.js: the distest pieces the debug benchmark drives.
export { localAllocation } from '../src/core/allocation/allocation';
export { runTests } from '../src/core/run/run';
export { DEFAULT_SETTINGS } from '../src/core/settings';
export { LocalHost } from '../src/core/transport/local';
export { DapClient } from '../test/integration/dapClient';
