// Bundled by bench/logs.mjs into .bench/logs-entry.js: the real demux, log store and view feed.
export { RankStreams } from '../src/core/ranks/demux';
export { LogStore } from '../src/core/logs/logStore';
export { LogFeed } from '../src/core/logs/logFeed';
