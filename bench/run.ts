/**
 * `npm run bench [-- --quick] [-- --only=2,3]`: measures locks and elections against a plain etcd
 * put in the same run and against the peers, prints a markdown table, and writes the figures to
 * bench/results/latest.json. Starts its own 3-member etcd cluster unless ETCD_ENDPOINTS is set.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { baseline } from './cases/baseline.js';
import { election } from './cases/election.js';
import { handoff } from './cases/handoff.js';
import { kindsUncontended } from './cases/kinds-uncontended.js';
import { rwFanout } from './cases/rw-fanout.js';
import { memory } from './cases/memory.js';
import { scale, semaphoreScale } from './cases/scale.js';
import { throughput } from './cases/throughput.js';
import { uncontended } from './cases/uncontended.js';
import { Bench } from './support/bench.js';
import { clock } from './support/clock.js';
import { compactMarkdown, markdown, type Row } from './support/report.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find(a => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

// A rejection nobody handles would end the process (and leave the table unwritten); count them
// instead and report them at the end: each one is a bug in the code under test.
const unhandled: string[] = [];
process.on('unhandledRejection', reason => {
  const e = reason as { name?: string; message?: string } | undefined;
  unhandled.push(`${e?.name ?? 'rejection'}: ${e?.message ?? String(reason)}`);
});

type Case = (b: Bench) => Promise<Row[]>;
const cases: [string, Case][] = [
  ['1', async b => (await baseline(b)).rows],
  ['2', uncontended],
  ['3', handoff],
  ['4', scale],
  ['5', throughput],
  ['6', election],
  ['7', memory],
  ['8', kindsUncontended],
  ['9', rwFanout],
  ['10', semaphoreScale],
];

/** The server version etcd reports on its client URL. */
async function etcdVersion(endpoint: string): Promise<string> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { etcdserver?: string }).etcdserver ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const started = clock();
  const loadAtStart = loadavg();
  const bench = await Bench.start(quick);
  const etcd = await etcdVersion(bench.endpoints[0]!);
  const stop = (): void => {
    void bench.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const rows: Row[] = [];
  const failures: string[] = [];
  try {
    for (const [id, run] of cases) {
      if (only && !only.includes(id)) continue;
      const t = clock();
      try {
        rows.push(...(await run(bench)));
      } catch (error) {
        failures.push(`case ${id}: ${(error as Error).stack ?? String(error)}`);
      }
      process.stderr.write(`case ${id} done in ${((clock() - t) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await bench.close();
  }
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    etcd,
    cluster: bench.cluster ? '3 members on loopback (started by the bench)' : `ETCD_ENDPOINTS=${bench.endpoints.join(',')}`,
    loadAtStart,
    loadAtEnd: loadavg(),
  };
  const seconds = (clock() - started) / 1000;
  const table = markdown(rows);
  process.stdout.write(`${table}\n\n`);
  process.stdout.write(
    `${quick ? 'quick mode; ' : ''}${machine.nproc} cores, ${machine.cpu}, Node ${machine.node}, etcd ${machine.etcd}; ${seconds.toFixed(0)} s\n`,
  );
  // Next to the sources, wherever the compiled bench runs from (`npm run bench` runs in the package's root).
  const dir = `${resolve('bench/results')}/`;
  await mkdir(dir, { recursive: true });
  if (unhandled.length > 0) {
    process.stdout.write(`\n⚠ ${unhandled.length} unhandled promise rejection(s) during the run (each would have crashed a process). First: ${unhandled[0]}\n`);
  }
  const json = JSON.stringify({ date: new Date().toISOString(), quick, seconds, machine, rows, failures, unhandledRejections: unhandled }, null, 2);
  await writeFile(`${dir}latest.json`, `${json}\n`);
  const footer = `${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, etcd ${machine.etcd}, ${machine.cluster}; ${quick ? '--quick, ' : ''}${seconds.toFixed(0)} s, load average ${machine.loadAtStart[0]!.toFixed(1)} at the start, ${machine.loadAtEnd[0]!.toFixed(1)} at the end.`;
  await writeFile(`${dir}latest.md`, `${table}\n\n${footer}\n`);
  await writeFile(`${dir}latest-compact.md`, `${compactMarkdown(rows)}\n\n${footer}\n`);
  for (const f of failures) process.stderr.write(`${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  code => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
