import { Mutex } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { clock } from '../support/clock.js';
import { waitForWatchQuiet } from '../support/etcd.js';
import { describeWork, perOp, scrape, work, type ServerWork } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { RawQueue } from '../support/raw-queue.js';
import { summarize } from '../support/stats.js';

const CASE = '5 throughput, 64 locks';
const WIDTH = 64;
/** Rates are counted per window; the table's median and p99 are over windows. */
const WINDOW_MS = 200;

/** What one subject did over all its phases. */
interface Tally {
  ops: number;
  /** Time the operations ran, ms. */
  busyMs: number;
  /** Time etcd kept receiving this subject's trailing watch requests after its last operation, ms. */
  drainMs: number;
  windows: number[];
  latencies: number[];
  server: ServerWork[];
  /** Sustained rate of each phase, ops/s. */
  phases: number[];
}

const tally = (): Tally => ({ ops: 0, busyMs: 0, drainMs: 0, windows: [], latencies: [], server: [], phases: [] });

function sumWork(works: ServerWork[]): ServerWork {
  const calls: Record<string, number> = {};
  for (const w of works) for (const [k, v] of Object.entries(w.calls)) calls[k] = (calls[k] ?? 0) + v;
  const add = (f: (w: ServerWork) => number): number => works.reduce((a, w) => a + f(w), 0);
  return {
    calls,
    watchRequests: add(w => w.watchRequests),
    watchResponses: add(w => w.watchResponses),
    watchEvents: add(w => w.watchEvents),
    keepAlives: add(w => w.keepAlives),
    watchStreams: add(w => w.watchStreams),
    slowWatchers: Math.max(0, ...works.map(w => w.slowWatchers)),
  };
}

/**
 * Case 5: 64 concurrent loops, each cycling its own lock (one session for all), against 64
 * concurrent loops of plain puts on 64 keys, and etcd3's Lock the same way. The subjects take turns
 * in short phases, in rotating order, so a change in the machine's load hits all of them alike.
 * A subject's rate is sustained: its operations over its running time plus the time its trailing
 * watch traffic kept etcd busy afterwards (etcd3 sends one watch creation at a time per client, so
 * a burst of locks leaves creations and cancellations queued behind it).
 */
export async function throughput(b: Bench): Promise<Row[]> {
  const client = b.client();
  const session = await b.session(client);
  const phaseMs = b.pick(300, 1000);
  const rounds = b.pick(1, 6);
  const base = b.name('throughput');

  const phase = async (t: Tally, op: (i: number) => Promise<void>, ms: number): Promise<void> => {
    const completions: number[] = [];
    const before = await scrape(b.metricsUrls);
    const start = clock();
    const end = start + ms;
    await Promise.all(
      Array.from({ length: WIDTH }, async (_, i) => {
        while (clock() < end) {
          const began = clock();
          await op(i);
          const done = clock();
          t.latencies.push(done - began);
          completions.push(done);
        }
      }),
    );
    const busy = clock() - start;
    const drainStart = clock();
    const lastRequest = (await waitForWatchQuiet(b.metricsUrls)) ?? clock();
    // Requests seen in the first scrape after the run may have been sent during it: not drain.
    const drain = Math.max(0, lastRequest - drainStart - 25);
    t.server.push(work(before, await scrape(b.metricsUrls)));
    t.ops += completions.length;
    t.busyMs += busy;
    t.drainMs += drain;
    t.phases.push(completions.length / ((busy + drain) / 1000));
    const windows = new Array<number>(Math.floor(ms / WINDOW_MS)).fill(0);
    for (const c of completions) {
      const w = Math.floor((c - start) / WINDOW_MS);
      if (w < windows.length) windows[w]!++;
    }
    t.windows.push(...windows.map(c => c / (WINDOW_MS / 1000)));
  };

  const raws = Array.from({ length: WIDTH }, (_, i) => new RawQueue(client, `${base}/floor/${i}/`));
  const mutexes = Array.from({ length: WIDTH }, (_, i) => new Mutex(session, `${base}/lock/${i}`));
  const subjects: [string, Tally, (i: number) => Promise<void>][] = [
    ['etcd put ×64', tally(), i => client.put(`${base}/put/${i}`).value('x').exec().then(() => undefined)],
    [
      'etcd-concurrency Mutex ×64',
      tally(),
      async i => {
        const lock = await mutexes[i]!.lock();
        await lock.unlock();
      },
    ],
    [
      'floor: 2 txns ×64, no watch',
      tally(),
      async i => {
        const own = await raws[i]!.create(session.leaseId, session.lease);
        await raws[i]!.remove(own.key, own.revision);
      },
    ],
    [
      'etcd3 Lock ×64',
      tally(),
      async i => {
        const lock = await client.lock(`${base}/etcd3/${i}`).ttl(10).acquire();
        await lock.release();
      },
    ],
  ];
  for (const [, , op] of subjects) await phase(tally(), op, b.pick(150, 300)); // warm up
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const [, t, op] = subjects[(round + k) % subjects.length]!;
      await phase(t, op, phaseMs);
    }
  }

  const rate = (t: Tally): number => t.ops / ((t.busyMs + t.drainMs) / 1000);
  const putRate = rate(subjects[0]![1]);
  const floorRate = rate(subjects.find(([subject]) => subject.startsWith('floor'))![1]);
  return subjects.map(([subject, t]): Row => {
    const server = perOp(sumWork(t.server), t.ops);
    const r = rate(t) / putRate;
    const latency = summarize(t.latencies);
    return {
      case: CASE,
      subject,
      unit: 'ops/s',
      summary: summarize(t.windows),
      ratio: { median: r, of: 'put rate' },
      ...(subject.startsWith('etcd-concurrency')
        ? { target: { text: `≥ 0.9× floor (${(rate(t) / floorRate).toFixed(2)}×)`, met: rate(t) / floorRate >= 0.9 } }
        : {}),
      note:
        `${Math.round(rate(t))} ops/s sustained` +
        (t.drainMs > 0 ? ` (${Math.round(t.ops / (t.busyMs / 1000))} while running, then watch requests trailed ${Math.round(t.drainMs / rounds)} ms per ${phaseMs} ms phase)` : '') +
        `; latency ${latency.median.toFixed(1)} ms (p99 ${latency.p99.toFixed(1)}); per op: ${describeWork(server)}`,
      server,
      detail: { sustained: rate(t), running: t.ops / (t.busyMs / 1000), drainMs: t.drainMs, phases: t.phases, latency, windowMs: WINDOW_MS, phaseMs, rounds },
    };
  });
}
