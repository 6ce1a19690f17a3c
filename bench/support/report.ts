import type { ServerWork } from './metrics.js';
import type { Summary } from './stats.js';

/** One line of the results table (and one entry of the JSON). */
export interface Row {
  /** The case, e.g. `2 uncontended lock+unlock`. */
  case: string;
  /** What was measured: this library, a peer, or etcd itself. */
  subject: string;
  /** Unit of `summary`. */
  unit: 'ms' | 'ops/s' | 'B' | 's';
  summary: Summary;
  /** The median (and p99) as a multiple of a reference measured in the same run. */
  ratio?: { median: number; p99?: number; of: string };
  /** The target for this figure, and whether this run met it. */
  target?: { text: string; met: boolean };
  /** Short remark for the table (FIFO held, events per release, retry policy…). */
  note?: string;
  /** etcd's work per operation, from its metrics. */
  server?: ServerWork;
  /** Anything else worth keeping in the JSON. */
  detail?: Record<string, unknown>;
}

function num(x: number, unit: Row['unit']): string {
  if (!Number.isFinite(x)) return '–';
  if (unit === 'ops/s' || unit === 'B') return Math.round(x).toLocaleString('en-US');
  if (unit === 's') return x.toFixed(2);
  return x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
}

function ratio(r: Row['ratio']): string {
  if (!r) return '';
  const p99 = r.p99 === undefined || !Number.isFinite(r.p99) ? '' : ` (p99 ${r.p99.toFixed(2)}×)`;
  return `${r.median.toFixed(2)}× ${r.of}${p99}`;
}

function target(t: Row['target']): string {
  if (!t) return '';
  return `${t.met ? '✅' : '❌'} ${t.text}`;
}

/** The results as a markdown table. */
export function markdown(rows: readonly Row[]): string {
  const out = [
    '| case | subject | n | median | p99 | ratio | target | note |',
    '| --- | --- | ---: | ---: | ---: | --- | --- | --- |',
  ];
  for (const r of rows) {
    const u = r.unit === 'ops/s' ? ' ops/s' : r.unit === 'B' ? ' B' : ` ${r.unit}`;
    out.push(
      `| ${r.case} | ${r.subject} | ${r.summary.n} | ${num(r.summary.median, r.unit)}${u} | ${num(r.summary.p99, r.unit)}${u} | ${ratio(r.ratio)} | ${target(r.target)} | ${(r.note ?? '').replaceAll('|', '\\|')} |`,
    );
  }
  return out.join('\n');
}

/** The table without the notes column, for the README. */
export function compactMarkdown(rows: readonly Row[]): string {
  const out = ['| case | subject | n | median | p99 | ratio | target |', '| --- | --- | ---: | ---: | ---: | --- | --- |'];
  for (const r of rows) {
    const u = r.unit === 'ops/s' ? ' ops/s' : r.unit === 'B' ? ' B' : ` ${r.unit}`;
    out.push(
      `| ${r.case} | ${r.subject} | ${r.summary.n} | ${num(r.summary.median, r.unit)}${u} | ${num(r.summary.p99, r.unit)}${u} | ${ratio(r.ratio)} | ${target(r.target)} |`,
    );
  }
  return out.join('\n');
}
