import type { MeterProvider } from '@opentelemetry/api';
import { describe, expectTypeOf, it } from 'vitest';
import {
  channelNames,
  configureObservability,
  kubernetesLeaderView,
  metricNames,
  queryLock,
  type AcquiredMessage,
  type LostMessage,
  type ObservabilityOptions,
  type OwnershipLostError,
  type QueueMember,
} from '../../lib/index.js';

describe('observability types', () => {
  it('configureObservability takes a MeterProvider and a lockNames switch or mapping', () => {
    expectTypeOf(configureObservability).parameter(0).toEqualTypeOf<ObservabilityOptions>();
    expectTypeOf<ObservabilityOptions['meterProvider']>().toEqualTypeOf<MeterProvider | undefined>();
    expectTypeOf<ObservabilityOptions['lockNames']>().toEqualTypeOf<boolean | ((name: string) => string | undefined) | undefined>();
  });

  it('names are literal strings; messages carry bigint tokens and typed errors', () => {
    expectTypeOf(channelNames.lost).toEqualTypeOf<'etcd-concurrency:lost'>();
    expectTypeOf(metricNames.leader).toEqualTypeOf<'etcd_concurrency.election.leader'>();
    expectTypeOf(kubernetesLeaderView.name).toEqualTypeOf<'leader_election_master_status'>();
    expectTypeOf<AcquiredMessage['fencingToken']>().toEqualTypeOf<bigint>();
    expectTypeOf<LostMessage['error']>().toEqualTypeOf<OwnershipLostError>();
  });

  it('queryLock takes a kind; members may carry mode or weight', () => {
    expectTypeOf(queryLock).parameter(2).toEqualTypeOf<{ timeout?: number; signal?: AbortSignal; kind?: 'mutex' | 'election' | 'rwlock' | 'semaphore' } | undefined>();
    expectTypeOf<QueueMember['mode']>().toEqualTypeOf<'read' | 'write' | undefined>();
    expectTypeOf<QueueMember['weight']>().toEqualTypeOf<number | undefined>();
  });
});
