import { createNoopMeter, metrics, type Counter, type Histogram, type Meter, type MeterProvider, type UpDownCounter } from '@opentelemetry/api';
import { settings } from './settings.js';

/** The library's metric names (OpenTelemetry style; a Prometheus exporter turns dots into underscores). */
export const metricNames = {
  /** Histogram, s: from `lock()`/`tryLock()`/`campaign()` to its outcome. Attributes: `lock.kind`, `lock.outcome`. */
  waitDuration: 'etcd_concurrency.lock.wait.duration',
  /** Histogram, s: from the grant to the release or loss. Attributes: `lock.kind`, `lock.outcome` (`released`, `lost`). */
  holdDuration: 'etcd_concurrency.lock.hold.duration',
  /** UpDownCounter: waits in progress. Attribute: `lock.kind`. */
  waiting: 'etcd_concurrency.lock.waiting',
  /** UpDownCounter: holds in progress (for elections: terms). Attribute: `lock.kind`. */
  held: 'etcd_concurrency.lock.held',
  /** Counter: waits that acquired. Attribute: `lock.kind`. */
  acquisitions: 'etcd_concurrency.lock.acquisitions',
  /** Counter: waits that ended by their `timeout`. Attribute: `lock.kind`. */
  timeouts: 'etcd_concurrency.lock.timeouts',
  /** Counter: holds lost without a release. Attributes: `lock.kind`, `lock.loss.reason`. */
  losses: 'etcd_concurrency.lock.losses',
  /** Histogram, s: round trip of each answered lease keepalive. */
  keepaliveDuration: 'etcd_concurrency.session.keepalive.duration',
  /** Counter: keepalive answers that came after the session had turned overdue (`session.keepAliveOverdue`). */
  keepaliveOverdue: 'etcd_concurrency.session.keepalive.overdue',
  /** Counter: sessions whose lease was lost (not closed by us). Attribute: `session.loss.reason` (`revoked`, `expired`). */
  sessionLosses: 'etcd_concurrency.session.losses',
  /** Gauge: 1 while this process leads the election `name`, else 0 (Kubernetes' `leader_election_master_status`). Attribute: `name`. */
  leader: 'etcd_concurrency.election.leader',
  /** Counter: this process started or stopped leading `name`. Attributes: `name`, `election.role` (the new one: `leader`, `standby`). */
  leaderTransitions: 'etcd_concurrency.election.transitions',
} as const;

/**
 * A view for `@opentelemetry/sdk-metrics` that exports the leader gauge under Kubernetes' name, so
 * that dashboards and alerts written for client-go's leader election work unchanged:
 * `leader_election_master_status{name="…"}` 1 on the leader, 0 on standbys. Pass it in
 * `new MeterProvider({ views: [kubernetesLeaderView] })`.
 */
export const kubernetesLeaderView = {
  instrumentName: metricNames.leader,
  name: 'leader_election_master_status',
} as const;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const HOLD_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600];
const KEEPALIVE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The API's no-op histogram (a singleton): what every meter returns while no SDK is registered. */
const NOOP_HISTOGRAM = createNoopMeter().createHistogram('noop');

/** @internal The library's instruments on one meter. */
export interface Instruments {
  /** True when the meter is the API's no-op (no SDK): recording would do nothing. */
  readonly noop: boolean;
  readonly waitDuration: Histogram;
  readonly holdDuration: Histogram;
  readonly waiting: UpDownCounter;
  readonly held: UpDownCounter;
  readonly acquisitions: Counter;
  readonly timeouts: Counter;
  readonly losses: Counter;
  readonly keepaliveDuration: Histogram;
  readonly keepaliveOverdue: Counter;
  readonly sessionLosses: Counter;
  readonly leaderTransitions: Counter;
}

/**
 * How many terms of each election this process is in (normally 0 or 1), for the leader gauge.
 * Holds every name seen, so that a standby keeps reporting 0 as Kubernetes' gauge does; election
 * names are few (one per singleton job), unlike lock names.
 */
export const leading = new Map<string, number>();

/** Instruments by provider: a provider that comes back (re-registered) gets its own again, not a second set. */
const byProvider = new WeakMap<MeterProvider, Instruments>();
let current: { readonly provider: MeterProvider; readonly instruments: Instruments } | undefined;

/**
 * @internal The instruments of the provider in force: the configured one, else the global one.
 * Created once per provider; without an SDK they are the API's no-ops.
 */
export function instruments(): Instruments {
  const provider = settings.meterProvider ?? metrics.getMeterProvider();
  if (current?.provider === provider) return current.instruments;
  let made = byProvider.get(provider);
  if (!made) byProvider.set(provider, (made = create(provider.getMeter('etcd-concurrency'))));
  current = { provider, instruments: made };
  return made;
}

function create(meter: Meter): Instruments {
  const seconds = (name: string, description: string, buckets: number[]): Histogram =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: buckets } });
  const leader = meter.createObservableGauge(metricNames.leader, {
    description: '1 while this process leads the election, 0 on a standby',
  });
  leader.addCallback(result => {
    for (const [name, terms] of leading) result.observe(terms > 0 ? 1 : 0, { name });
  });
  const waitDuration = seconds(metricNames.waitDuration, 'Time from lock()/tryLock()/campaign() to its outcome', LATENCY_BUCKETS);
  return {
    noop: waitDuration === NOOP_HISTOGRAM,
    waitDuration,
    holdDuration: seconds(metricNames.holdDuration, 'Time a lock was held (or an election led)', HOLD_BUCKETS),
    waiting: meter.createUpDownCounter(metricNames.waiting, { description: 'Waits in progress', unit: '{lock}' }),
    held: meter.createUpDownCounter(metricNames.held, { description: 'Locks held (terms led)', unit: '{lock}' }),
    acquisitions: meter.createCounter(metricNames.acquisitions, { description: 'Waits that acquired', unit: '{lock}' }),
    timeouts: meter.createCounter(metricNames.timeouts, { description: 'Waits that timed out', unit: '{lock}' }),
    losses: meter.createCounter(metricNames.losses, { description: 'Holds lost without a release', unit: '{lock}' }),
    keepaliveDuration: seconds(metricNames.keepaliveDuration, 'Round trip of an answered lease keepalive', KEEPALIVE_BUCKETS),
    keepaliveOverdue: meter.createCounter(metricNames.keepaliveOverdue, {
      description: 'Keepalive answers that came after the session had turned overdue',
    }),
    sessionLosses: meter.createCounter(metricNames.sessionLosses, { description: 'Sessions whose lease was lost', unit: '{session}' }),
    leaderTransitions: meter.createCounter(metricNames.leaderTransitions, { description: 'Terms started and ended by this process' }),
  };
}
