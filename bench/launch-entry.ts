// Bundled by bench/launch.mjs into .bench/launch-entry.js: the distest pieces the launch benchmark drives.
export { localAllocation } from '../src/core/allocation/allocation';
export { detectMpi } from '../src/core/allocation/mpi';
export { planRun } from '../src/core/launch/plan';
export { runTests } from '../src/core/run/run';
export { DEFAULT_SETTINGS } from '../src/core/settings';
export { Slurm } from '../src/core/allocation/slurm';
export { LocalHost } from '../src/core/transport/local';
export { shellQuote } from '../src/core/transport/quote';
