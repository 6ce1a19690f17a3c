// The demo's last step: the library's own metrics, read through the OpenTelemetry SDK. A few
// contenders lock in this process (the shops and schedulers are other processes, each with its own
// metrics), one gives up on a timeout, and a campaign leads then resigns; the figures are printed
// as a dashboard would show them. `npx tsx examples/metrics.ts` serves the same on /metrics.
import { LockTimeoutError, Election, Mutex, Session, configureObservability, metricNames } from 'etcd-concurrency';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import type { Etcd3 } from 'etcd3';

class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const CONTENDERS = 3;
const ROUNDS = 3;

/** Runs the step and prints its summary; true when every figure is what the step did. */
export async function metricsSummary(client: Etcd3, prefix: string, say: (text?: string) => void): Promise<boolean> {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  configureObservability({ meterProvider: provider });
  const sessions = await Promise.all(Array.from({ length: CONTENDERS }, () => Session.create(client, { ttl: 5 })));
  try {
    const name = `${prefix}/metrics`;
    const leaderWhileLeading = await (async () => {
      const leadership = await new Election(sessions[0]!, `${prefix}/metrics-election`).campaign('demo');
      const gauge = await read(reader, metricNames.leader);
      await leadership.resign();
      return sum(gauge);
    })();
    const holder = await new Mutex(sessions[0]!, name).lock();
    const timedOut = await new Mutex(sessions[1]!, name).lock({ timeout: 100 }).catch((error: unknown) => error instanceof LockTimeoutError);
    await holder.unlock();
    await Promise.all(
      sessions.map(async session => {
        const mutex = new Mutex(session, name);
        for (let i = 0; i < ROUNDS; i++) await mutex.withLock(() => new Promise(resolve => setTimeout(resolve, 10)));
      }),
    );
    const mutex = { 'lock.kind': 'mutex' };
    const acquisitions = sum(await read(reader, metricNames.acquisitions), mutex);
    const timeouts = sum(await read(reader, metricNames.timeouts), mutex);
    const losses = sum(await read(reader, metricNames.losses));
    const waits = histogram(await read(reader, metricNames.waitDuration), { ...mutex, 'lock.outcome': 'acquired' });
    const holds = histogram(await read(reader, metricNames.holdDuration), { ...mutex, 'lock.outcome': 'released' });
    const busy = sum(await read(reader, metricNames.held)) + sum(await read(reader, metricNames.waiting));
    const leaderAfter = sum(await read(reader, metricNames.leader));
    const ms = (h: { sum: number; count: number }): string => `${((h.sum / Math.max(1, h.count)) * 1000).toFixed(1)} ms`;
    const expected = 1 + CONTENDERS * ROUNDS;
    const ok = timedOut === true && acquisitions === expected && timeouts === 1 && losses === 0 && busy === 0 && leaderWhileLeading === 1 && leaderAfter === 0;
    say();
    say(`   Metrics of ${CONTENDERS} contenders in this process (OpenTelemetry; examples/metrics.ts serves them on /metrics)`);
    say(`   ${ok ? '✓' : '✗'} ${acquisitions} acquisitions, ${timeouts} timeout, ${losses} losses; mean wait ${ms(waits)}, mean hold ${ms(holds)}; none held or waiting after`);
    say(`   ${leaderWhileLeading === 1 && leaderAfter === 0 ? '✓' : '✗'} leader gauge (exportable as leader_election_master_status) ${leaderWhileLeading} while leading, ${leaderAfter} after resigning`);
    return ok;
  } finally {
    await Promise.all(sessions.map(s => s.close().catch(() => undefined)));
    configureObservability({ meterProvider: undefined });
    await provider.shutdown();
  }
}

async function read(reader: MetricReader, name: string): Promise<DataPoint<number | Histogram>[]> {
  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap(s => s.metrics).find(m => m.descriptor.name === name);
  return (metric?.dataPoints ?? []) as DataPoint<number | Histogram>[];
}

const matching = (points: DataPoint<number | Histogram>[], attributes: Record<string, string>): DataPoint<number | Histogram>[] =>
  points.filter(p => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));

function sum(points: DataPoint<number | Histogram>[], attributes: Record<string, string> = {}): number {
  return matching(points, attributes).reduce((total, p) => total + (typeof p.value === 'number' ? p.value : p.value.count), 0);
}

function histogram(points: DataPoint<number | Histogram>[], attributes: Record<string, string>): { sum: number; count: number } {
  return matching(points, attributes).reduce(
    (total, p) => ({ sum: total.sum + ((p.value as Histogram).sum ?? 0), count: total.count + (p.value as Histogram).count }),
    { sum: 0, count: 0 },
  );
}
