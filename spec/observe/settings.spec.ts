import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { Election, InvalidArgumentError, LeaderElector, Mutex, configureObservability, metricNames } from '../../lib/index.js';
import { keepalive } from '../../lib/observe/instrument.js';
import { aborted, client, defer, session, uniqueName } from '../support/etcd.js';

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** A MeterProvider for this test alone, configured as the library's, and a way to read its points. */
function collector(): (name: string) => Promise<DataPoint<number | Histogram>[]> {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  configureObservability({ meterProvider: provider });
  defer(async () => {
    configureObservability({ meterProvider: undefined, lockNames: false });
    await provider.shutdown();
  });
  return async name => {
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics.flatMap(s => s.metrics).find(m => m.descriptor.name === name);
    return (metric?.dataPoints ?? []) as DataPoint<number | Histogram>[];
  };
}

const countOf = (points: DataPoint<number | Histogram>[], attributes: Record<string, string>): number =>
  points
    .filter(p => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (typeof p.value === 'number' ? p.value : p.value.count), 0);

describe('metrics through a configured MeterProvider', () => {
  it('labels lock metrics by kind only by default: no lock name', async () => {
    const points = collector();
    const s = await session(client());
    const lock = await new Mutex(s, uniqueName('order:123')).lock();
    expect(countOf(await points(metricNames.held), { 'lock.kind': 'mutex' })).toBe(1);
    await lock.unlock();
    const holds = await points(metricNames.holdDuration);
    expect(holds.map(p => p.attributes)).toEqual([{ 'lock.kind': 'mutex', 'lock.outcome': 'released' }]);
    expect(countOf(await points(metricNames.held), {})).toBe(0);
    expect(countOf(await points(metricNames.waiting), {})).toBe(0);
    expect(countOf(await points(metricNames.acquisitions), { 'lock.kind': 'mutex' })).toBe(1);
  });

  it('labels with the whole name, or with the family a function returns, when asked', async () => {
    const points = collector();
    const s = await session(client());
    const name = uniqueName('order');
    configureObservability({ lockNames: true });
    await (await new Mutex(s, `${name}:1`).lock()).unlock();
    configureObservability({ lockNames: n => n.split(':')[0] });
    await (await new Mutex(s, `${name}:2`).lock()).unlock();
    await (await new Mutex(s, `${name}:3`).lock()).unlock();
    const acquisitions = await points(metricNames.acquisitions);
    expect(countOf(acquisitions, { 'lock.name': `${name}:1` })).toBe(1);
    expect(countOf(acquisitions, { 'lock.name': name })).toBe(2);
  });

  it('times answered keepalives', async () => {
    const points = collector();
    const s = await session(client());
    // leaseAlive() resolves on the answer, or (true as well) when none came in time: ask until one did.
    while ((await points(metricNames.keepaliveDuration)).length === 0) expect(await s.leaseAlive()).toBe(true);
    const [point] = await points(metricNames.keepaliveDuration);
    expect(countOf([point!], {})).toBeGreaterThanOrEqual(1);
    expect((point!.value as Histogram).sum).toBeGreaterThan(0);
  });

  it('counts a keepalive answer that came after the session had turned overdue', async () => {
    const points = collector();
    keepalive(2500, true);
    keepalive(3, false);
    expect(countOf(await points(metricNames.keepaliveOverdue), {})).toBe(1);
    expect(countOf(await points(metricNames.keepaliveDuration), {})).toBe(2);
  });

  it('reports 1 for an election this process leads, 0 after it resigned, and counts both transitions', async () => {
    const points = collector();
    const s = await session(client());
    const name = uniqueName('election');
    const leadership = await new Election(s, name).campaign('me');
    expect(countOf(await points(metricNames.leader), { name })).toBe(1);
    await leadership.resign();
    expect(countOf(await points(metricNames.leader), { name })).toBe(0);
    expect((await points(metricNames.leader)).filter(p => p.attributes.name === name)).toHaveLength(1);
    const transitions = await points(metricNames.leaderTransitions);
    expect(countOf(transitions, { name, 'election.role': 'leader' })).toBe(1);
    expect(countOf(transitions, { name, 'election.role': 'standby' })).toBe(1);
  });

  it('follows a LeaderElector: 1 during its term, 0 after stop()', async () => {
    const points = collector();
    const name = uniqueName('elector');
    let term: AbortSignal | undefined;
    let started!: () => void;
    const leading = new Promise<void>(resolve => (started = resolve));
    const elector = new LeaderElector({
      client: client(),
      name,
      ttl: 5,
      onStartedLeading: async signal => {
        term = signal;
        started();
        await aborted(signal);
      },
    });
    defer(() => elector.stop());
    await elector.start();
    await leading;
    expect(countOf(await points(metricNames.leader), { name })).toBe(1);
    await elector.stop();
    expect(term!.aborted).toBe(true);
    expect(countOf(await points(metricNames.leader), { name })).toBe(0);
    expect(countOf(await points(metricNames.leaderTransitions), { name })).toBe(2);
  });

  it('refuses a bad setting, naming it', () => {
    expect(() => configureObservability({ lockNames: 'yes' as never })).toThrow(InvalidArgumentError);
    expect(() => configureObservability({ meterProvider: {} as never })).toThrow(/meterProvider must be an OpenTelemetry MeterProvider/);
  });
});
