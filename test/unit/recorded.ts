// Outputs of the real tools replayed by the parser tests (test/fixtures/recorded/, see the record-*.sh
// scripts there): the OpenMPI recordings carry frames with this fixed token.
import fs from 'node:fs';
import path from 'node:path';
import { RankStreams, type RankLine } from '../../src/core/ranks/demux';

export const RECORDED_TOKEN = '0123456789abcdef0123456789abcdef';
export const RECORDED = path.resolve(__dirname, '../../../test/fixtures/recorded');

/** Every line of a `mpirun --tag-output` recording (`<name>.stdout.txt`, `<name>.stderr.txt`), per rank. */
export function recordedLines(name: string): RankLine[] {
  const streams = new RankStreams({ token: RECORDED_TOKEN, tagStyle: 'openmpi' });
  const out: RankLine[] = [];
  streams.onLine(l => out.push(l));
  for (const stream of ['stdout', 'stderr'] as const) {
    const file = path.join(RECORDED, `${name}.${stream}.txt`);
    if (fs.existsSync(file)) streams.write(stream, fs.readFileSync(file));
  }
  streams.end();
  return out;
}
