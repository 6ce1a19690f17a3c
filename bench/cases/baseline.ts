import type { Etcd3 } from 'etcd3';
import type { Bench } from '../support/bench.js';
import { timed } from '../support/clock.js';
import { describeWork, perOp, scrape, work } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';

/** One plain put of a small value: the unit every latency is divided by. */
export function putOnce(client: Etcd3, key: string): Promise<number> {
  return timed(() => client.put(key).value('x').exec());
}

/**
 * Case 1: sequential plain puts on one client. Also a linearizable range and a one-compare
 * transaction, the other two calls a lock is made of, so the table shows etcd's own floor.
 */
export async function baseline(b: Bench): Promise<{ rows: Row[]; putMedian: number }> {
  const client = b.client();
  const key = b.name('put');
  const n = b.pick(100, 1000);
  for (let i = 0; i < 20; i++) await putOnce(client, key);

  const before = await scrape(b.metricsUrls);
  const puts: number[] = [];
  for (let i = 0; i < n; i++) puts.push(await putOnce(client, key));
  const putWork = perOp(work(before, await scrape(b.metricsUrls)), n);
  const put = summarize(puts);

  const ranges: number[] = [];
  const txns: number[] = [];
  for (let i = 0; i < n / 2; i++) {
    ranges.push(await timed(() => client.get(key).exec()));
    txns.push(await timed(() => client.if(key, 'Create', '>', 0).then(client.put(key).value('y')).commit()));
  }
  const range = summarize(ranges);
  const txn = summarize(txns);
  const of = 'put';
  return {
    putMedian: put.median,
    rows: [
      { case: '1 baseline', subject: 'etcd put', unit: 'ms', summary: put, ratio: { median: 1, p99: 1, of }, note: describeWork(putWork), server: putWork },
      {
        case: '1 baseline',
        subject: 'etcd range (linearizable)',
        unit: 'ms',
        summary: range,
        ratio: { median: range.median / put.median, p99: range.p99 / put.p99, of },
        note: 'what a lock pays to read the queue',
      },
      {
        case: '1 baseline',
        subject: 'etcd txn (1 compare + put)',
        unit: 'ms',
        summary: txn,
        ratio: { median: txn.median / put.median, p99: txn.p99 / put.p99, of },
        note: 'what a lock pays per create or delete',
      },
    ],
  };
}
