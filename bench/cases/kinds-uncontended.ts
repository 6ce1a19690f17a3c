import { Mutex, RWMutex, Semaphore } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { timed } from '../support/clock.js';
import { describeWork, perOp, scrape, work } from '../support/metrics.js';
import { RawQueue } from '../support/raw-queue.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '8 uncontended acquire+release, each kind';

/**
 * Case 8: acquire + release of each lock kind with nobody else around, on one session, against
 * the floor of the queue protocol (create our key and read the first page in one txn; delete it
 * guarded by its create revision) and a plain put, cycle by cycle in turn so the machine's load
 * hits all alike. Target: each kind ≤ 1.05× the floor.
 */
export async function kindsUncontended(b: Bench): Promise<Row[]> {
  const client = b.client();
  const session = await b.session(client);
  const iterations = b.pick(50, 400);
  const mutex = new Mutex(session, b.name('k-mutex'));
  const rw = new RWMutex(session, b.name('k-rw'));
  const sem = new Semaphore(session, b.name('k-sem'), { permits: 3 });
  const raw = new RawQueue(client, `${b.name('k-floor')}/`);
  const subjects: { subject: string; target: boolean; cycle: () => Promise<void> }[] = [
    {
      subject: 'floor: 2 txns, no watch',
      target: false,
      async cycle() {
        const own = await raw.create(session.leaseId, session.lease);
        await raw.remove(own.key, own.revision);
      },
    },
    { subject: 'Mutex', target: false, cycle: async () => (await mutex.lock()).unlock() },
    { subject: 'RWMutex write', target: true, cycle: async () => (await rw.writeLock()).unlock() },
    { subject: 'RWMutex read', target: true, cycle: async () => (await rw.readLock()).unlock() },
    { subject: 'Semaphore (N = 3)', target: true, cycle: async () => (await sem.acquire()).unlock() },
  ];
  for (const s of subjects) for (let i = 0; i < 10; i++) await s.cycle();
  const taken = subjects.map(() => [] as number[]);
  const puts: number[] = [];
  for (let i = 0; i < iterations; i++) {
    for (let k = 0; k < subjects.length; k++) {
      const j = (i + k) % subjects.length;
      taken[j]!.push(await timed(subjects[j]!.cycle));
    }
    puts.push(await putOnce(client, b.name('k-put')));
  }
  const p = summarize(puts);
  const floor = summarize(taken[0]!);
  const rows: Row[] = [];
  for (const [j, s] of subjects.entries()) {
    const k = b.pick(10, 50);
    const before = await scrape(b.metricsUrls);
    for (let i = 0; i < k; i++) await s.cycle();
    const server = perOp(work(before, await scrape(b.metricsUrls)), k);
    const sum = summarize(taken[j]!);
    const r = sum.median / floor.median;
    rows.push({
      case: CASE,
      subject: s.subject,
      unit: 'ms',
      summary: sum,
      ratio: { median: sum.median / p.median, p99: sum.p99 / p.p99, of: 'put' },
      ...(s.target ? { target: { text: `≤ 1.05× floor (${r.toFixed(2)}×)`, met: r <= 1.05 } } : {}),
      note: `${r.toFixed(2)}× floor; per cycle: ${describeWork(server)}`,
      server,
      detail: { put: p, floor, ofFloor: r },
    });
  }
  return rows;
}
