// Studies as text for a terminal (the CLI's human output); JSON is the study object itself.
import type { RepeatStudy, ScaleStudy } from './study';
import type { Spread } from './stats';

export const ms = (v: number): string => (v < 1000 ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : `${(v / 1000).toFixed(2)} s`);
const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
const spreadText = (s: Spread): string => `min ${ms(s.min)} · median ${ms(s.median)} · p95 ${ms(s.p95)} · max ${ms(s.max)}`;

export function repeatText(s: RepeatStudy): string {
  const out = [
    '',
    `${s.id}  ${s.ranks} rank${s.ranks === 1 ? '' : 's'} on ${s.allocation}: ${s.iterations} iteration${s.iterations === 1 ? '' : 's'}${s.cancelled ? ' (cancelled)' : ''}${s.untilFail ? ', until the first failure' : ''}`,
    `  passed ${s.outcomes.passed} · failed ${s.outcomes.failed} · errored ${s.outcomes.errored} (hang ${s.kinds.hang}, crash ${s.kinds.crash})${s.outcomes.skipped ? ` · skipped ${s.outcomes.skipped}` : ''}`,
  ];
  if (s.failureRate !== null && s.ci95) out.push(`  failure rate ${pct(s.failureRate)} (95% interval ${pct(s.ci95[0])}–${pct(s.ci95[1])})${s.firstFailure !== null ? `, first failure at iteration ${s.firstFailure}` : ''}`);
  if (s.durationsMs) out.push(`  test body ${spreadText(s.durationsMs)}`);
  if (s.wallMs) out.push(`  launch    ${spreadText(s.wallMs)}`);
  for (const g of s.groups) {
    const at = g.file ? ` at ${g.file}:${g.line}` : '';
    const ranks = g.ranks.length ? ` ${g.ranks.length === 1 ? 'rank' : 'ranks'} ${g.ranks.join(', ')}` : '';
    out.push(`  ${g.kind}${ranks} ×${g.iterations.length}: ${g.message}${at}`, `      iterations ${g.iterations.join(', ')}`);
  }
  out.push('');
  return out.join('\n');
}

export function scaleText(s: ScaleStudy): string {
  const head = s.weak ? ['ranks', 'median', 'min', 'max', 'overhead', 'time ratio', 'efficiency', 'passed'] : ['ranks', 'median', 'min', 'max', 'overhead', 'speedup', 'efficiency', 'passed'];
  const rows = s.points.map(p => [
    String(p.ranks), p.bodyMs ? ms(p.bodyMs.median) : '—', p.bodyMs ? ms(p.bodyMs.min) : '—', p.bodyMs ? ms(p.bodyMs.max) : '—',
    p.overheadMs !== null ? ms(p.overheadMs) : '—', (s.weak ? p.timeRatio : p.speedup)?.toFixed(2) ?? '—', p.efficiency !== null ? pct(p.efficiency) : '—',
    `${p.samples.filter(x => x.state === 'passed').length}/${p.samples.length}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padStart(widths[i])).join('  ')}`;
  return ['', `${s.id} on ${s.allocation}: ${s.weak ? 'weak' : 'strong'} scaling, ${s.repeat} run${s.repeat === 1 ? '' : 's'} per count${s.cancelled ? ' (cancelled)' : ''}`,
    line(head), ...rows.map(line), ...s.notes.map(n => `  note: ${n}`), ''].join('\n');
}
