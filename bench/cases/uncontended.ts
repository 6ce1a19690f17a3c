import { Mutex } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { timed } from '../support/clock.js';
import { describeWork, perOp, scrape, work, type ServerWork } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '2 uncontended lock+unlock';

/**
 * Case 2: `lock()` + `unlock()` with nobody else around, on one long-lived session; a plain put is
 * interleaved after every cycle, so the ratio compares figures taken under the same load.
 * Then a separate pass counts etcd's work per cycle from its metrics.
 */
export async function uncontended(b: Bench): Promise<Row[]> {
  const client = b.client();
  const putKey = b.name('put');
  const n = b.pick(50, 500);
  const rows: Row[] = [];

  const measure = async (subject: string, cycle: () => Promise<void>, samples: number, note: string): Promise<void> => {
    for (let i = 0; i < 10; i++) await cycle();
    const cycles: number[] = [];
    const puts: number[] = [];
    for (let i = 0; i < samples; i++) {
      cycles.push(await timed(cycle));
      puts.push(await putOnce(client, putKey));
    }
    const k = Math.min(samples, 50);
    const before = await scrape(b.metricsUrls);
    for (let i = 0; i < k; i++) await cycle();
    const server: ServerWork = perOp(work(before, await scrape(b.metricsUrls)), k);
    const s = summarize(cycles);
    const p = summarize(puts);
    rows.push({
      case: CASE,
      subject,
      unit: 'ms',
      summary: s,
      ratio: { median: s.median / p.median, p99: s.p99 / p.p99, of: 'put' },
      ...(subject === 'etcd-concurrency Mutex'
        ? { target: { text: '≤ 2.2× put', met: s.median / p.median <= 2.2 } }
        : {}),
      note: `${note}${note ? '; ' : ''}per cycle: ${describeWork(server)}`,
      server,
      detail: { put: p },
    });
  };

  const session = await b.session(client);
  const mutex = new Mutex(session, b.name('uncontended'));
  await measure(
    'etcd-concurrency Mutex',
    async () => {
      const lock = await mutex.lock();
      await lock.unlock();
    },
    n,
    '',
  );

  // Diagnosis: the same, while another watcher keeps the client's watch stream open. etcd3 closes
  // its watch stream when the last watcher is cancelled, so an uncontended cycle on an otherwise
  // idle client opens and closes a gRPC stream each time.
  const anchor = await client.watch().key(`${b.name('anchor')}/never-written`).create();
  await measure(
    'Mutex, watch stream kept open',
    async () => {
      const lock = await mutex.lock();
      await lock.unlock();
    },
    n,
    'diagnosis: another watcher on the same client',
  );
  await anchor.cancel();

  // etcd's floor for a cycle: the same two transactions the Mutex sends (create our key on the
  // lease and read the first page of the queue; delete it guarded by its create revision), with
  // no watch and no bookkeeping.
  const floorPrefix = `${b.name('floor')}/`;
  const floorKey = `${floorPrefix}${session.leaseId}`;
  await measure(
    'floor: 2 txns, no watch',
    async () => {
      const res = await client.kv.txn({
        compare: [{ key: Buffer.from(floorKey), target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [
          { request_put: { key: Buffer.from(floorKey), value: Buffer.alloc(0), lease: session.lease } },
          { request_range: { key: Buffer.from(floorPrefix), range_end: Buffer.from(`${floorPrefix.slice(0, -1)}0`), sort_order: 'Descend', sort_target: 'Create', limit: 8, keys_only: true } },
        ],
      });
      await client.kv.txn({
        compare: [{ key: Buffer.from(floorKey), target: 'Create', result: 'Equal', create_revision: res.header.revision }],
        success: [{ request_delete_range: { key: Buffer.from(floorKey) } }],
      });
    },
    n,
    'the Mutex’s two transactions alone',
  );

  const peerName = b.name('etcd3-lock');
  await measure(
    'etcd3 Lock',
    async () => {
      const lock = await client.lock(peerName).ttl(10).acquire();
      await lock.release();
    },
    Math.ceil(n / 2),
    'a fresh lease per acquire',
  );
  return rows;
}
