import { ExponentialBackoff, TaskCancelledError, handleWhen, retry, type IPolicy } from 'cockatiel';
import type { Namespace } from 'etcd3';
import { EtcdUnavailableError, InvalidArgumentError, PermissionDeniedError, TlsHandshakeError } from '../errors.js';
import { isPermissionError, isSilence, isStaleToken, isTlsFailure, isTooLarge, isTransient } from './classify.js';
import type { Endpoint, Service } from './internals.js';
import { membersOf, type Members } from './members.js';

export { isTransient } from './classify.js';

/**
 * The default retry policy for one etcd call: transient errors only, exponential backoff with
 * decorrelated jitter from 25 ms up to 1 s, at most 20 rounds. Each round already tries the
 * members one after another (see {@link callEtcd}); the call's deadline (`callTimeout`) usually
 * ends the retries first.
 */
export function defaultRetryPolicy(): IPolicy {
  return retry(handleWhen(isTransient), {
    maxAttempts: 19,
    backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }),
  });
}

/**
 * @internal The {@link defaultRetryPolicy} of every session and elector not given one: one
 * instance (it keeps no state between calls, and nobody listens to its events), so that their
 * calls count as made in one context (small reads of the same moment then share a call, see
 * `readRange`). A user who asks for `defaultRetryPolicy()` gets an instance of their own.
 */
export const sharedDefaultPolicy: IPolicy = defaultRetryPolicy();

/** An attempt gets at most this share of the call's time, so one stuck on a frozen member leaves time for others. */
const ATTEMPT_SHARE = 1 / 2;
/** Attempts of one call in flight at once, at most. */
const MAX_IN_FLIGHT = 8;
/** Each further hedge of a call waits this much longer than the one before (up to the members' hedge delay maximum). */
const HEDGE_GROWTH = 1.5;

/** How calls to etcd are made: the retry policy and the deadline of each call. */
export interface CallContext {
  readonly policy: IPolicy;
  /** Deadline of one call, its retries included, in milliseconds. */
  readonly callTimeout: number;
}

/** One etcd RPC, as {@link callEtcd} sends it. */
export interface Rpc<T> {
  readonly service: Service;
  readonly method: string;
  readonly request: unknown;
  /**
   * Whether it changes etcd. A write is never left in flight behind the caller's back: when the
   * caller aborts, the call rejects only once its attempts have settled. Default: false.
   */
  readonly write?: boolean;
  /**
   * Whether copies of the request may be in flight at once, to several members (see
   * {@link callEtcd}): only for a request that does no harm when a copy is applied late, after
   * whatever the caller did next. Reads are; so is a delete guarded by a create revision, and a
   * lease grant whose extra leases are revoked (`discard`). A create-if-absent is not (a late copy
   * would create the key again after its release), nor a guarded update (a late copy would write
   * an older value over a newer one), nor a delete guarded by the lease alone. Default: true for
   * reads, false for writes.
   */
  readonly hedge?: boolean;
  /** Called with an answer that came after another attempt's answer was taken (a lease granted twice). */
  readonly discard?: (answer: T) => void;
  /**
   * Called when an attempt went unanswered (its deadline passed, or the call settled without it):
   * a write may then still be applied by etcd later, after the call's answer.
   */
  readonly uncertain?: () => void;
}

/**
 * Runs one etcd RPC within `ctx.callTimeout` ms in all, riding through a frozen or dead member.
 *
 * Each round sends the request to the member that answers best (see {@link Members}), with at most
 * half the call's time as its gRPC deadline (a write that may not be hedged: eight times the usual
 * latency, at least a second, so the next round soon tries another member). A request that may be hedged (`rpc.hedge`) also goes to
 * the next member if no answer comes within the hedge delay (about four times the usual latency,
 * 150 ms to 1 s), and again at growing intervals (at most 1 s apart), up to eight attempts in flight:
 * during a leader election every attempt hangs, and the first one sent after it is answered. The first answer wins; a member that stays silent
 * while another answers is avoided until it answers again. A round fails when every attempt in it
 * failed; the retry policy (`ctx.policy`) then decides whether and when to try another round. The
 * policy is given the caller's `signal`; the deadline ends the call from outside it, whatever the
 * policy is doing then.
 *
 * Rejects with `signal.reason` when the signal aborts (for a write, once its attempts settled),
 * {@link PermissionDeniedError} at once on a permission error, {@link TlsHandshakeError} on a failed
 * handshake, {@link InvalidArgumentError} for a request etcd finds too large, and
 * {@link EtcdUnavailableError} when the policy gives up on a transient error or the time is up.
 */
export async function callEtcd<T>(client: Namespace, ctx: CallContext, operation: string, rpc: Rpc<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const members = membersOf(client);
  const deadline = Date.now() + ctx.callTimeout;
  let lastError: unknown;
  // One stop ends everything: the caller's abort, or the deadline (then with TIME_UP).
  const stop = new CallStop();
  const onAbort = (): void => stop.stop(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop.stop(TIME_UP), ctx.callTimeout);
  const inFlight = new Set<Promise<unknown>>();
  try {
    const execution = ctx.policy.execute(() => {
      // The policy went on after the call ended (its backoff does not heed the end): no new round.
      stop.throwIfStopped();
      const attemptMs = hedges(rpc) ? ctx.callTimeout * ATTEMPT_SHARE : Math.min(ctx.callTimeout * ATTEMPT_SHARE, members.attemptTimeout());
      return hedged(members, rpc, deadline, attemptMs, stop, inFlight, error => (lastError = error));
    }, signal);
    // A retry policy's backoff (cockatiel's sleeps between rounds) does not end at the deadline or
    // the caller's abort: the call does, whatever the policy is waiting for.
    return await stop.race(execution);
  } catch (error) {
    if (signal?.aborted) {
      if (rpc.write) await Promise.allSettled([...inFlight]);
      throw signal.reason;
    }
    if (stop.reason === TIME_UP) throw new EtcdUnavailableError(`${operation} within ${ctx.callTimeout} ms`, { cause: lastError });
    if (error instanceof TaskCancelledError) throw signal?.reason ?? error;
    throw typed(operation, error);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * What ends one call: the caller's abort or the deadline. A reason and a few callbacks, where an
 * `AbortController` would cost an `EventTarget` per call (every lock and unlock makes calls).
 */
class CallStop {
  stopped = false;
  reason: unknown;
  private listeners: (() => void)[] = [];

  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }

  /** Calls `listener` once when the call ends, until {@link off}. */
  on(listener: () => void): void {
    this.listeners.push(listener);
  }

  off(listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  throwIfStopped(): void {
    if (this.stopped) throw this.reason;
  }

  /** Settles as `promise` does, or rejects with the reason as soon as the call ends. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.stopped) {
      promise.catch(() => undefined);
      return Promise.reject(this.reason as Error);
    }
    return new Promise<T>((resolve, reject) => {
      const onStop = (): void => reject(this.reason as Error);
      this.on(onStop);
      promise.then(
        value => {
          this.off(onStop);
          resolve(value);
        },
        (error: unknown) => {
          this.off(onStop);
          reject(error as Error);
        },
      );
    });
  }
}

/** The reason a call stops with when its time is up. */
const TIME_UP = Symbol('time up');

/** The library's error for a failure of etcd's, or the error itself when it is not etcd's. */
function typed(operation: string, error: unknown): unknown {
  if (isPermissionError(error)) return new PermissionDeniedError(operation, { cause: error });
  if (isTlsFailure(error)) return new TlsHandshakeError(operation, { cause: error });
  if (isTooLarge(error)) {
    const what = operation.length > 120 ? `${operation.slice(0, 120)}…` : operation;
    return new InvalidArgumentError('request', `etcd refused the request to ${what} as too large for its --max-request-bytes: use a shorter name or value`, { cause: error });
  }
  if (isTransient(error)) return new EtcdUnavailableError(operation, { cause: error });
  return error;
}

/** Whether copies of `rpc` may be in flight at once. */
function hedges(rpc: Pick<Rpc<unknown>, 'hedge' | 'write'>): boolean {
  return rpc.hedge ?? !rpc.write;
}

/** One round: the request to one member, and to the next ones while no answer comes. */
function hedged<T>(
  members: Members,
  rpc: Rpc<T>,
  deadline: number,
  attemptMs: number,
  stop: CallStop,
  inFlight: Set<Promise<unknown>>,
  failed: (error: unknown) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const order = members.order();
    const pending = new Map<Promise<T>, { endpoint: Endpoint; sentAt: number }>();
    let launched = 0;
    let settled = false;
    let hedgeTimer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(hedgeTimer);
      stop.off(onStop);
      return true;
    };
    const onStop = (): void => {
      if (settle()) reject(stop.reason);
    };
    stop.on(onStop);
    const launch = (): void => {
      const endpoint = order[launched++ % order.length]!;
      const sentAt = performance.now();
      const attempt = endpoint.unary<T>(rpc.service, rpc.method, rpc.request, Math.min(deadline, Date.now() + attemptMs));
      pending.set(attempt, { endpoint, sentAt });
      inFlight.add(attempt);
      attempt.then(
        answer => {
          inFlight.delete(attempt);
          pending.delete(attempt);
          members.answered(endpoint);
          members.observe(performance.now() - sentAt);
          if (!settle()) return rpc.discard?.(answer);
          // Whoever is still silent after the hedge delay, while this member answered, is suspect.
          const now = performance.now();
          for (const other of pending.values()) if (now - other.sentAt >= members.hedgeDelay()) members.suspect(other.endpoint);
          if (pending.size > 0) rpc.uncertain?.();
          resolve(answer);
        },
        (error: unknown) => {
          inFlight.delete(attempt);
          pending.delete(attempt);
          failed(error);
          if (isSilence(error)) {
            members.suspect(endpoint);
            // A busy cluster, rather than a frozen member, also lets attempts run out: count the
            // wait as a latency, so the next attempts get longer deadlines.
            members.observe(performance.now() - sentAt);
            rpc.uncertain?.();
          } else {
            members.answered(endpoint);
          }
          if (isStaleToken(error)) members.invalidateToken();
          if (settled) return;
          if (!isTransient(error) || pending.size === 0) {
            settle();
            reject(error);
          }
        },
      );
    };
    // While etcd elects a leader, every attempt hangs until its deadline: keep sending, further and
    // further apart, so that one goes out soon after the new leader can serve it.
    if (!hedges(rpc)) return launch();
    let delay = members.hedgeDelay();
    const hedge = (): void => {
      if (settled) return;
      if (pending.size < MAX_IN_FLIGHT && members.mayHedge()) launch();
      delay = Math.min(delay * HEDGE_GROWTH, Math.max(members.hedgeDelay(), 1000));
      hedgeTimer = setTimeout(hedge, delay);
    };
    launch();
    if (order.length > 1) hedgeTimer = setTimeout(hedge, delay);
  });
}
