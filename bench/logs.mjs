// Per-rank log benchmark: 256 ranks × 4 MB of OpenMPI-tagged mixed output (short and long lines,
// stderr, ANSI colours, UTF-8, tracebacks) read from a file through the real RankStreams → LogStore (ring +
// spill to disk) → LogFeed (batching/flow control) with a stand-in view that acks each batch after it
// "wrote" it. Compared with `cat` of the same file. Last stdout line:
// {"demuxMBps", "lagP50Ms", "lagP99Ms", "rssGrowthMB", "catMBps"}. `--ranks N --mb M` scale it down.
import * as esbuild from 'esbuild';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { deserialize, serialize } from 'node:v8';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const benchDir = path.join(root, '.bench');
const entryJs = path.join(benchDir, 'logs-entry.js');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const RANKS = arg('--ranks', 256);
const MB_PER_RANK = arg('--mb', 4);
const TOKEN = 'b'.repeat(32);

await esbuild.build({
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  entryPoints: [path.join(root, 'bench/logs-entry.ts')], outfile: entryJs,
});
const { RankStreams, LogStore, LogFeed } = await import(entryJs);

/** One rank's n-th line: mostly test output, some long lines, coloured, UTF-8, stderr tracebacks. */
function lineOf(rank, n) {
  const tag = `[1,${rank}]`;
  switch (n % 16) {
    case 0: return `${tag}<stdout>:tests/test_solver.py::test_step[${n}] \x1b[32mPASSED\x1b[0m\n`;
    case 5: return `${tag}<stderr>:  File "/work/app/solver.py", line ${n % 900}, in step\n`;
    case 6: return `${tag}<stderr>:AssertionError: residual ${n} too large on rank ${rank}\n`;
    case 9: return `${tag}<stdout>:${'halo cells '.repeat(40)}${n}\n`;
    case 12: return `${tag}<stdout>:✓ rank ${rank} converged: ‖r‖ = ${(n * 1e-9).toExponential(2)} after ${n} sweeps (Δt = 0.001 s)\n`;
    default: return `${tag}<stdout>:rank ${rank} step ${n}: residual=${(n * 1e-7).toExponential(3)} dt=0.001\n`;
  }
}

/** The file holds `segment` repeated up to `total` bytes (a previous run's input is reused). */
function holds(file, segment, total) {
  if (!fs.existsSync(file) || fs.statSync(file).size !== total) return false;
  const head = Buffer.alloc(Math.min(segment.length, total));
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  return head.equals(segment.subarray(0, head.length));
}

/** The input file: ranks' lines round-robin, a 16 MB segment repeated up to RANKS × MB_PER_RANK. */
function generate(file) {
  const total = RANKS * MB_PER_RANK * 1024 * 1024;
  const parts = [];
  let size = 0;
  for (let n = 0; size < Math.min(16 * 1024 * 1024, total); n++) {
    for (let rank = 0; rank < RANKS; rank++) {
      const line = lineOf(rank, n);
      parts.push(line);
      size += Buffer.byteLength(line);
    }
  }
  const segment = Buffer.from(parts.join(''));
  if (holds(file, segment, total)) return total;
  const fd = fs.openSync(file, 'w');
  let written = 0;
  while (written < total) written += fs.writeSync(fd, segment, 0, Math.min(segment.length, total - written));
  fs.closeSync(fd);
  return total;
}

function timeCat(file, bytes) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const devNull = fs.openSync('/dev/null', 'w');
    const cat = spawn('cat', [file], { stdio: ['ignore', devNull, 'inherit'] });
    cat.on('error', reject);
    cat.on('exit', code => {
      fs.closeSync(devNull);
      if (code !== 0) reject(new Error(`cat exited with ${code}`));
      else resolve(bytes / 1e6 / ((performance.now() - started) / 1000));
    });
  });
}

fs.mkdirSync(benchDir, { recursive: true });
const input = path.join(benchDir, 'logs-input.txt');
const bytes = generate(input);
const runsDir = path.join(benchDir, 'logs-runs');
fs.rmSync(runsDir, { recursive: true, force: true });

/**
 * The demux alone (lines only counted): the file read in 64 KiB chunks outside the clocks. MB/s per
 * second of this process's CPU time inside RankStreams.write (GC threads included), i.e. on one core
 * whatever else the machine runs; the wall-clock figure is printed beside it.
 */
function timeDemux() {
  const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
  let count = 0;
  streams.onLine(() => count++);
  const fd = fs.openSync(input, 'r');
  const chunk = Buffer.alloc(64 * 1024);
  let wallNs = 0n;
  let cpuUs = 0;
  for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) {
    const cpu = process.cpuUsage();
    const wall = process.hrtime.bigint();
    streams.write('stdout', chunk.subarray(0, n));
    wallNs += process.hrtime.bigint() - wall;
    const used = process.cpuUsage(cpu);
    cpuUs += used.user + used.system;
  }
  fs.closeSync(fd);
  streams.end();
  return { MBps: bytes / 1e6 / (cpuUs / 1e6), wallMBps: bytes / 1e6 / (Number(wallNs) / 1e9), lines: count };
}
const demuxAlone = timeDemux();

const store = new LogStore({ root: runsDir, keepRuns: 2 });
const run = await store.startRun('bench');
let lines = 0;
let shown = 0;
const feed = new LogFeed({
  post: message => {
    // The view's side: structured clone of the message, xterm writes, then the ack.
    const copy = deserialize(serialize(message));
    shown += copy.lines.length;
    setTimeout(() => feed.ack(copy.batch), 2);
  },
});
run.onLine(line => feed.push(line.rank, line.stream, line.text));
const streams = new RankStreams({ token: TOKEN, tagStyle: 'openmpi' });
streams.onLine(line => {
  lines++;
  run.append(line.rank, line.stream, line.text);
});

const rssBefore = process.memoryUsage().rss;
let rssPeak = rssBefore;
const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 50);
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const started = performance.now();
await new Promise((resolve, reject) => {
  const reader = fs.createReadStream(input, { highWaterMark: 64 * 1024 });
  reader.on('data', chunk => {
    streams.write('stdout', chunk);
  });
  reader.on('error', reject);
  reader.on('end', resolve);
});
streams.end();
run.close();
const wallS = (performance.now() - started) / 1000;
lag.disable();
clearInterval(sampler);
rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

const catMBps = await timeCat(input, bytes);
const spilled = fs.readdirSync(run.dir).reduce((n, f) => n + fs.statSync(path.join(run.dir, f)).size, 0);
const mb = bytes / 1e6;
const result = {
  demuxMBps: Math.round(demuxAlone.MBps),
  lagP50Ms: Number((lag.percentile(50) / 1e6).toFixed(1)),
  lagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)),
  rssGrowthMB: Math.round((rssPeak - rssBefore) / 1e6),
  catMBps: Math.round(catMBps),
};
console.log(`input:    ${input} (${RANKS} ranks × ${MB_PER_RANK} MB = ${mb.toFixed(0)} MB)`);
console.log(`pipeline: ${lines} lines in ${wallS.toFixed(1)} s wall (${(mb / wallS).toFixed(0)} MB/s read → demux → store → feed)`);
console.log(`demux:    ${result.demuxMBps} MB/s per CPU second alone, ${demuxAlone.wallMBps.toFixed(0)} MB/s by the wall clock (${demuxAlone.lines} lines, inside RankStreams.write only; load ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} CPUs)`);
if (demuxAlone.lines !== lines) throw new Error(`the pipeline saw ${lines} lines, the demux alone ${demuxAlone.lines}`);
console.log(`spilled:  ${(spilled / 1e6).toFixed(0)} MB in ${fs.readdirSync(run.dir).length} files; view got ${shown} lines, ${feed.droppedTotal} dropped while catching up`);
console.log(`lag:      p50 ${result.lagP50Ms} ms, p99 ${result.lagP99Ms} ms; RSS growth ${result.rssGrowthMB} MB; cat ${result.catMBps} MB/s`);
fs.rmSync(runsDir, { recursive: true, force: true });
console.log(JSON.stringify(result));
