import { Mutex } from '../../lib/index.js';
import type { Bench, Message } from '../support/bench.js';
import { clock } from '../support/clock.js';
import { waitForKeys, waitForWatchers } from '../support/etcd.js';
import { describeWork, perOp, scrape, watchers, work, type ServerWork } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '4 queue scale';

interface Done extends Message {
  records: [string, number, number][];
}

/**
 * Case 4: N waiters on one lock, spread round-robin over several worker processes, each waiter
 * releasing as soon as it holds. The holder (here) releases once every waiter is in line (its key
 * exists and etcd counts its watchers); then the lock passes down the whole queue. Measured: each
 * handoff (previous release call → next acquisition), FIFO order (fencing tokens strictly increase
 * in acquisition order), and etcd's work per release from its metrics.
 */
export async function scale(b: Bench): Promise<Row[]> {
  const processes = b.pick(2, 4);
  const sizes = b.pick([10, 100], [10, 100, 1000]);
  const minSamples = b.pick(40, 300);
  const workers = Array.from({ length: processes }, () => b.worker('waiters.ts', []));
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
      const name = b.name(`scale-${size}`);
      const holder = await new Mutex(session, name).lock();
      const base = await watchers(b.metricsUrls);
      const done = workers.map((w, i) => {
        const count = Math.floor(size / processes) + (i < size % processes ? 1 : 0);
        w.send({ cmd: 'join', name, count });
        return w.next<Done>('done');
      });
      await waitForKeys(client, `${name}/`, size + 1);
      // Every waiter watches its own key and its predecessor's: 2 watchers each once in line.
      if (!(await waitForWatchers(b.metricsUrls, base + 2 * size, 60_000))) readyTimeouts++;
      const before = await scrape(b.metricsUrls);
      const releasedAt = clock();
      await holder.unlock();
      const finished = await Promise.all(done);
      const failure = finished.find(m => typeof m.error === 'string');
      if (failure) throw new Error(`a waiter failed: ${String(failure.error)}`);
      const records = finished.flatMap(m => m.records);
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
      subject: 'etcd-concurrency Mutex',
      unit: 'ms',
      summary: s,
      ratio: { median: s.median / p.median, p99: s.p99 / p.p99, of: 'put' },
      target: largest
        ? { text: `≤ 1.3× the ${sizes[0]}-waiter median (${growth.toFixed(2)}×); FIFO`, met: growth <= 1.3 && fifo }
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
