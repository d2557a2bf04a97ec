// Bundled by bench/debug.mjs into .bench/debug-entry.js: the distest pieces the debug benchmark drives.
export { localAllocation } from '../src/core/allocation/allocation';
export { runTests } from '../src/core/run/run';
export { LocalHost } from '../src/core/transport/local';
export { DapClient } from '../test/integration/dapClient';
