import { Semaphore } from '../../lib/index.js';
import type { Bench, Message } from '../support/bench.js';
import { clock } from '../support/clock.js';
import { waitForKeys, waitForWatchers } from '../support/etcd.js';
import { describeWork, perOp, scrape, watchers, work, type ServerWork } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '10 semaphore scale (N = 1)';

interface Done extends Message {
  records: [string, number, number][];
}

/**
 * Case 10: as case 4 (queue scale), on a `Semaphore` with one permit: the head waiter watches the
 * prefix for deletions, every other waiter its predecessor for any change, and a waiter that
 * becomes a holder writes its key once to wake its successor. Measured: each handoff (previous
 * release call → next acquisition), FIFO order, and etcd's watch events per release from its
 * metrics, which must stay constant from 10 to 1,000 waiters.
 */
export async function semaphoreScale(b: Bench): Promise<Row[]> {
  const processes = b.pick(2, 4);
  const sizes = b.pick([10, 1000], [10, 100, 1000]);
  const minSamples = b.pick(40, 300);
  const workers = Array.from({ length: processes }, () => b.worker('permit-waiters.ts', []));
  await Promise.all(workers.map(w => w.next('ready')));
  const client = b.client();
  const session = await b.session(client);
  const rows: Row[] = [];
  const medians = new Map<number, number>();

  for (const size of sizes) {
    const rounds = Math.max(1, Math.ceil(minSamples / size));
    const handoffs: number[] = [];
    const puts: number[] = [];
    const works: ServerWork[] = [];
    let fifo = true;
    let readyTimeouts = 0;
    let releases = 0;
    for (let round = 0; round < rounds; round++) {
      const name = b.name(`sem-scale-${size}`);
      const holder = await new Semaphore(session, name, { permits: 1 }).acquire();
      const base = await watchers(b.metricsUrls);
      // A waiter that fails ends the case with its error rather than a wait that never ends.
      const failures: Promise<never>[] = [];
      const done = workers.map((w, i) => {
        const count = Math.floor(size / processes) + (i < size % processes ? 1 : 0);
        w.send({ cmd: 'join', name, count, permits: 1 });
        const failed = w.next<Message & { error: string }>('failed').then(m => Promise.reject(new Error(`a waiter failed: ${m.error}`)));
        failed.catch(() => undefined);
        failures.push(failed);
        return Promise.race([w.next<Done>('done'), failed]);
      });
      await Promise.race([waitForKeys(client, `${name}/`, size + 1), ...failures]);
      // Every waiter watches its own key and its predecessor (or, the head waiter, the prefix): 2 each.
      if (!(await waitForWatchers(b.metricsUrls, base + 2 * size, 60_000))) readyTimeouts++;
      const before = await scrape(b.metricsUrls);
      const releasedAt = clock();
      await holder.unlock();
      const records = (await Promise.all(done)).flatMap(m => m.records);
      works.push(work(before, await scrape(b.metricsUrls)));
      releases += size + 1;
      records.sort((x, y) => x[1] - y[1]);
      let previousRelease = releasedAt;
      let previousToken = holder.fencingToken;
      for (const [token, acquiredAt, released] of records) {
        if (BigInt(token) <= previousToken) fifo = false;
        handoffs.push(acquiredAt - previousRelease);
        previousRelease = released;
        previousToken = BigInt(token);
      }
      if (records.length !== size) fifo = false;
      for (let i = 0; i < 10; i++) puts.push(await putOnce(client, 'bench/put'));
    }
    const sum = works.reduce<ServerWork>(
      (acc, w) => ({
        calls: Object.fromEntries(
          [...new Set([...Object.keys(acc.calls), ...Object.keys(w.calls)])].map(k => [k, (acc.calls[k] ?? 0) + (w.calls[k] ?? 0)]),
        ),
        watchRequests: acc.watchRequests + w.watchRequests,
        watchResponses: acc.watchResponses + w.watchResponses,
        watchEvents: acc.watchEvents + w.watchEvents,
        keepAlives: acc.keepAlives + w.keepAlives,
        watchStreams: acc.watchStreams + w.watchStreams,
        slowWatchers: Math.max(acc.slowWatchers, w.slowWatchers),
      }),
      { calls: {}, watchRequests: 0, watchResponses: 0, watchEvents: 0, keepAlives: 0, watchStreams: 0, slowWatchers: 0 },
    );
    const server = perOp(sum, releases);
    const s = summarize(handoffs);
    const p = summarize(puts);
    medians.set(size, s.median);
    const smallest = medians.get(sizes[0]!)!;
    const growth = s.median / smallest;
    const largest = size === sizes[sizes.length - 1] && size !== sizes[0];
    rows.push({
      case: `${CASE}, ${size.toLocaleString('en-US')} waiters`,
      subject: 'etcd-concurrency Semaphore',
      unit: 'ms',
      summary: s,
      ratio: { median: s.median / p.median, p99: s.p99 / p.p99, of: 'put' },
      target: largest
        ? { text: `≤ 1.3× the ${sizes[0]}-waiter median (${growth.toFixed(2)}×); FIFO; events per release constant`, met: growth <= 1.3 && fifo }
        : { text: 'FIFO', met: fifo },
      note:
        `${processes} processes, ${rounds} round${rounds > 1 ? 's' : ''}; FIFO ${fifo ? 'held' : 'BROKEN'}; ` +
        `per release: ${describeWork(server)}` +
        (readyTimeouts ? `; ${readyTimeouts} round(s) started before all watchers registered` : ''),
      server,
      detail: { put: p, processes, rounds, fifo, growthVsSmallest: growth, eventsPerRelease: server.watchEvents },
    });
  }
  for (const w of workers) w.send({ cmd: 'exit' });
  await Promise.all(workers.map(w => w.exited));
  return rows;
}
