import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop } from 'cockatiel';
import type { IOptions } from 'etcd3';
import { isTransient } from './classify.js';
import { asWatchBackoff } from './internals.js';

/** A gRPC keepalive ping every this many ms while calls or streams are open. etcd refuses pings more often than every 5 s. */
const KEEPALIVE_TIME_MS = 6_000;
/** No answer to a ping within this many ms: the connection is dead, and gRPC reconnects. */
const KEEPALIVE_TIMEOUT_MS = 3_000;
/** Deadline of the client's own unary calls (not streams) that set none, ms. */
const DEFAULT_DEADLINE_MS = 5_000;
/** How long a member whose calls failed three times in a row is left out before one call tries it again, ms. */
const HALF_OPEN_AFTER_MS = 1_000;

/**
 * Adds to etcd3 client options what a long-lived client needs to notice a dead connection and to
 * recover from faults quickly. Fields already set in `options` win; the result is a new object.
 *
 * The library does not need them for its own calls: it picks the member of each call and stream
 * itself, hedges a call that a member leaves unanswered, and checks its streams' liveness, whatever
 * options the client was built with. They are for the application's own use of the same client
 * (`lock.ifOwner()...commit()`, gets, puts, etcd3's watches), which etcd3 sends to a random member.
 *
 * - **gRPC keepalive** (`grpc.keepalive_time_ms: 6000`, `grpc.keepalive_timeout_ms: 3000`): etcd3
 *   has no liveness check of its own, so a connection that silently died (a partition, a NAT or load
 *   balancer that dropped its state, a frozen etcd member) stalls its watches and keepalive stream
 *   forever. With these, gRPC notices within about 9 s and reconnects, and watches resume.
 * - **A member is left out for 1 s, not 5 s,** after three failed calls in a row (etcd3's circuit
 *   breaker per member; the threshold is etcd3's): with a single endpoint (a load balancer, one
 *   member) etcd3's 5 s meant 5 s of failed calls after any blip, and 5 s more each time the one
 *   trial call then failed too.
 * - **Watch reconnect backoff** from 100 ms up to 2 s (etcd3's default grows to 30 s, so after a
 *   long outage a watch could come back up to 30 s after etcd did).
 * - **No retry inside etcd3** (`faultHandling.global: noop`): etcd3 retries a failed call three
 *   times at once under the same deadline, so after a timeout every retry fails at once and counts
 *   against healthy members in etcd3's circuit breakers, and a write that may have committed is
 *   sent again. This library retries its own calls with backoff (`SessionOptions.retryPolicy`); wrap
 *   your own calls in a policy if you want them retried.
 * - **A deadline of 5 s** on the client's own unary calls that set none (streams have none).
 *
 * @example
 * ```ts
 * const client = new Etcd3(resilientClientOptions({ hosts: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] }));
 * const session = await Session.create(client, { ttl: 10 });
 * ```
 */
export function resilientClientOptions(options: IOptions): IOptions {
  return {
    ...options,
    grpcOptions: {
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      ...options.grpcOptions,
    },
    faultHandling: {
      global: noop,
      host: () => circuitBreaker(handleWhen(isTransient), { halfOpenAfter: HALF_OPEN_AFTER_MS, breaker: new ConsecutiveBreaker(3) }),
      // etcd3 itself passes an ExponentialBackoff here; its typings name an older cockatiel's type.
      watchBackoff: asWatchBackoff(new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 })),
      ...options.faultHandling,
    },
    defaultCallOptions:
      options.defaultCallOptions ?? (context => (context.isStream ? {} : { deadline: Date.now() + DEFAULT_DEADLINE_MS })),
  };
}
