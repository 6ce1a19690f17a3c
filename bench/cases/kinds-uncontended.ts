import { Mutex, RWMutex, Semaphore } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { measureInTurn } from '../support/in-turn.js';
import { describeWork } from '../support/metrics.js';
import { RawQueue } from '../support/raw-queue.js';
import type { Row } from '../support/report.js';
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
  const { subjects: measured, reference: p } = await measureInTurn(b, subjects, iterations, () => putOnce(client, b.name('k-put')));
  const floor = measured[0]!.summary;
  const rows: Row[] = [];
  for (const [j, s] of subjects.entries()) {
    const { summary: sum, server } = measured[j]!;
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
