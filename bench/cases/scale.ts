import { Mutex, Semaphore, type Lock, type Session } from '../../lib/index.js';
import type { Bench, Message } from '../support/bench.js';
import { clock } from '../support/clock.js';
import { waitForKeys, waitForWatchQuiet } from '../support/etcd.js';
import { describeWork, perOp, scrape, work, type ServerWork } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

/** A finished join of `workers/waiters.ts`. */
interface Done extends Message {
  records: [string, number, number][];
}

/** What a queue-scale case runs on. */
interface Kind {
  readonly case: string;
  readonly subject: string;
  /** The worker's `kind`. */
  readonly worker: 'mutex' | 'semaphore';
  readonly quickSizes: number[];
  hold(session: Session, name: string): Promise<Lock>;
}

/**
 * Case 4: N waiters on one `Mutex`, spread round-robin over several worker processes, each waiter
 * releasing as soon as it holds. The holder (here) releases once every waiter is in line (its key
 * exists and etcd counts its watchers); then the lock passes down the whole queue. Measured: each
 * handoff (previous release call → next acquisition), FIFO order (fencing tokens strictly increase
 * in acquisition order), and etcd's work per release from its metrics.
 */
export function scale(b: Bench): Promise<Row[]> {
  return queueScale(b, {
    case: '4 queue scale',
    subject: 'etcd-concurrency Mutex',
    worker: 'mutex',
    quickSizes: [10, 100],
    hold: (session, name) => new Mutex(session, name).lock(),
  });
}

/**
 * Case 10: as case 4, on a `Semaphore` with one permit: the head waiter watches the prefix for
 * deletions, every other waiter its predecessor for any change, and a waiter that becomes a holder
 * writes its key once to wake its successor.
 */
export function semaphoreScale(b: Bench): Promise<Row[]> {
  return queueScale(b, {
    case: '10 semaphore scale (N = 1)',
    subject: 'etcd-concurrency Semaphore',
    worker: 'semaphore',
    quickSizes: [10, 1000],
    hold: (session, name) => new Semaphore(session, name, { permits: 1 }).acquire(),
  });
}

/**
 * The queue-scale measurement of one kind. Targets: at the largest size, the median handoff at most
 * 1.3× the smallest size's, FIFO, and etcd's watch events per release constant (within half an
 * event of the smallest size's).
 */
async function queueScale(b: Bench, kind: Kind): Promise<Row[]> {
  const processes = b.pick(2, 4);
  const sizes = b.pick(kind.quickSizes, [10, 100, 1000]);
  const minSamples = b.pick(40, 300);
  const workers = Array.from({ length: processes }, () => b.worker('waiters.ts', []));
  await Promise.all(workers.map(w => w.next('ready')));
  const client = b.client();
  const session = await b.session(client);
  const rows: Row[] = [];
  const medians = new Map<number, number>();
  const events = new Map<number, number>();

  for (const size of sizes) {
    const rounds = Math.max(1, Math.ceil(minSamples / size));
    const handoffs: number[] = [];
    const puts: number[] = [];
    const works: ServerWork[] = [];
    let fifo = true;
    let readyTimeouts = 0;
    let releases = 0;
    for (let round = 0; round < rounds; round++) {
      const name = b.name(`${kind.worker}-scale-${size}`);
      const holder = await kind.hold(session, name);
      const done = workers.map((w, i) => {
        const count = Math.floor(size / processes) + (i < size % processes ? 1 : 0);
        w.send({ cmd: 'join', name, count, kind: kind.worker, permits: 1 });
        return w.next<Done>('done');
      });
      await waitForKeys(client, `${name}/`, size + 1);
      // Every waiter is in line once etcd has stopped receiving watch requests (its own key's and its
      // predecessor's; a count of etcd's watchers would not do: waiters of one process that watch the
      // same key share one watch).
      if ((await waitForWatchQuiet(b.metricsUrls)) === undefined) readyTimeouts++;
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
    events.set(size, server.watchEvents);
    const growth = s.median / medians.get(sizes[0]!)!;
    const eventsConstant = Math.abs(server.watchEvents - events.get(sizes[0]!)!) <= 0.5;
    const largest = size === sizes[sizes.length - 1] && size !== sizes[0];
    rows.push({
      case: `${kind.case}, ${size.toLocaleString('en-US')} waiters`,
      subject: kind.subject,
      unit: 'ms',
      summary: s,
      ratio: { median: s.median / p.median, p99: s.p99 / p.p99, of: 'put' },
      target: largest
        ? {
            text: `≤ 1.3× the ${sizes[0]}-waiter median (${growth.toFixed(2)}×); FIFO; watch events per release constant`,
            met: growth <= 1.3 && fifo && eventsConstant,
          }
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
