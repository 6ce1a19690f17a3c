import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Mutex, configureObservability } from '../../lib/index.js';
import { instrumentCost } from '../support/instrument-cost.js';
import type { Bench } from '../support/bench.js';
import { measureInTurn, type Cycled } from '../support/in-turn.js';
import { describeWork } from '../support/metrics.js';
import { RawQueue } from '../support/raw-queue.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '2 uncontended lock+unlock';

interface Subject extends Cycled {
  subject: string;
  note: string;
  /** The subject of the floor this one's target is measured against (≤ 1.05× its median). */
  floor?: string;
}

/** The target of a subject measured against its floor's samples: a median ≤ 1.05× the floor's. */
function floorTarget(median: number, floorSamples: number[]): { text: string; met: boolean } {
  const ratio = median / summarize(floorSamples).median;
  return { text: `≤ 1.05× floor (${ratio.toFixed(2)}×)`, met: ratio <= 1.05 };
}

/**
 * Case 2: `lock()` + `unlock()` with nobody else around, on one long-lived session. The subjects
 * take turns cycle by cycle, with one plain put per iteration as the reference, so a change in the
 * machine's load hits all alike. A separate pass counts etcd's work per cycle from its metrics.
 */
export async function uncontended(b: Bench): Promise<Row[]> {
  const client = b.client();
  const session = await b.session(client);
  const putKey = b.name('put');
  const iterations = b.pick(50, 400);

  const mutex = new Mutex(session, b.name('uncontended'));
  const lockCycle = async (): Promise<void> => {
    const lock = await mutex.lock();
    await lock.unlock();
  };

  // Diagnosis: the Mutex on a second client that always has another watcher open. etcd3 closes
  // its watch stream when the last watcher is cancelled, so on an otherwise idle client each cycle
  // opens and closes a gRPC stream for the lock's own-key watch.
  const anchored = b.client();
  await anchored.watch().key(`${b.name('anchor')}/never-written`).create();
  const anchoredMutex = new Mutex(await b.session(anchored), b.name('uncontended-anchored'));

  // etcd's floor for a cycle: the Mutex's two transactions (create our key on the lease and read
  // the first page of the queue; delete it guarded by its create revision), nothing else.
  const raw = new RawQueue(client, `${b.name('floor')}/`);

  // "lock order-<id>" code: a new lock name every cycle, so nothing of an earlier cycle is reused.
  let entity = 0;
  const entityBase = b.name('entity');
  const rawEntity = (): RawQueue => new RawQueue(client, `${b.name('floor-entity')}-${entity++}/`);

  // Metrics' cost: the same cycle with an OpenTelemetry SDK configured for the library (a
  // MeterProvider with a Prometheus reader; recording is the per-call cost, a scrape is not), against the first subject,
  // which runs the same instrumentation with no SDK (the API's no-ops).
  const sdk = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
  const sdkMutex = new Mutex(session, b.name('uncontended-sdk'));

  const peerName = b.name('etcd3-lock');
  const subjects: Subject[] = [
    { subject: 'etcd-concurrency Mutex', note: '', every: 1, floor: 'floor: 2 txns, no watch', cycle: lockCycle },
    {
      subject: 'Mutex, watch stream kept open',
      note: 'diagnosis: another watcher open on the same client',
      every: 1,
      async cycle() {
        const lock = await anchoredMutex.lock();
        await lock.unlock();
      },
    },
    {
      subject: 'floor: 2 txns, no watch',
      note: 'the Mutex’s two transactions alone',
      every: 1,
      async cycle() {
        const own = await raw.create(session.leaseId, session.lease);
        await raw.remove(own.key, own.revision);
      },
    },
    {
      subject: 'Mutex, a new name every cycle',
      note: 'per-entity locks',
      every: 1,
      floor: 'floor: 2 txns, a new name every cycle',
      async cycle() {
        const lock = await new Mutex(session, `${entityBase}-${entity++}`).lock();
        await lock.unlock();
      },
    },
    {
      subject: 'floor: 2 txns, a new name every cycle',
      note: 'the two transactions alone, per-entity',
      every: 1,
      async cycle() {
        const raw = rawEntity();
        const own = await raw.create(session.leaseId, session.lease);
        await raw.remove(own.key, own.revision);
      },
    },
    {
      subject: 'Mutex, metrics SDK registered',
      note: 'OpenTelemetry MeterProvider + Prometheus reader',
      every: 1,
      async cycle() {
        configureObservability({ meterProvider: sdk });
        try {
          const lock = await sdkMutex.lock();
          await lock.unlock();
        } finally {
          configureObservability({ meterProvider: undefined });
        }
      },
    },
    {
      subject: 'etcd3 Lock',
      note: 'a fresh lease per acquire',
      every: 2,
      async cycle() {
        const lock = await client.lock(peerName).ttl(10).acquire();
        await lock.release();
      },
    },
  ];

  const { subjects: measured, reference: p } = await measureInTurn(b, subjects, iterations, () => putOnce(client, putKey));

  const rows: Row[] = [];
  for (const [j, s] of subjects.entries()) {
    const { summary: sum, server } = measured[j]!;
    const r = sum.median / p.median;
    rows.push({
      case: CASE,
      subject: s.subject,
      unit: 'ms',
      summary: sum,
      ratio: { median: r, p99: sum.p99 / p.p99, of: 'put' },
      ...(s.floor ? { target: floorTarget(sum.median, measured[subjects.findIndex(f => f.subject === s.floor)]!.samples) } : {}),
      note: `${s.note}${s.note ? '; ' : ''}per cycle: ${describeWork(server)}${server.watchStreams ? `, ${server.watchStreams} watch streams opened` : ''}`,
      server,
      detail: { put: p },
    });
  }
  // The SDK's cost against the same cycle without one, and the instrumentation's own cost in µs.
  const plain = rows.find(r => r.subject === 'etcd-concurrency Mutex')!;
  const withSdk = rows.find(r => r.subject === 'Mutex, metrics SDK registered')!;
  const overhead = withSdk.summary.median / plain.summary.median;
  const [noSdkUs, sdkUs] = [instrumentCost(undefined), instrumentCost(sdk)];
  withSdk.target = { text: '≤ 1.05× Mutex without SDK', met: overhead <= 1.05 };
  withSdk.note += `; ${overhead.toFixed(3)}× the Mutex without SDK; instrumentation alone ${noSdkUs.toFixed(2)} µs/cycle without SDK, ${sdkUs.toFixed(2)} µs with`;
  withSdk.detail = { ...withSdk.detail, overheadVsNoSdk: overhead, instrumentUsNoSdk: noSdkUs, instrumentUsSdk: sdkUs };
  await sdk.shutdown();
  return rows;
}
