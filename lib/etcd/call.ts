import { BrokenCircuitError, ExponentialBackoff, TaskCancelledError, handleWhen, retry, type IPolicy } from 'cockatiel';
import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  GRPCUnauthenticatedError,
  isRecoverableError,
} from 'etcd3';
import type { CallOptions } from '@grpc/grpc-js';
import { EtcdUnavailableError, InvalidArgumentError, PermissionDeniedError, TlsHandshakeError } from '../errors.js';
import { abortable, withDeadline } from '../util/abort.js';

/**
 * A failure worth retrying: the connection dropped, a member is down, etcd is electing a leader,
 * a call hit its deadline. Permission and argument errors are not transient.
 */
export function isTransient(error: unknown): boolean {
  // A failed TLS handshake or a request over etcd's size limit arrives as a recoverable gRPC
  // error (UNAVAILABLE, RESOURCE_EXHAUSTED), but the next attempt fails the same way.
  if (isTlsFailure(error) || isTooLarge(error)) return false;
  // etcd3 opens a per-host circuit breaker after repeated failures: the host is down for now.
  return error instanceof BrokenCircuitError || (error instanceof Error && isRecoverableError(error));
}

/** The TLS handshake failed (wrong CA, client certificate missing or refused, name mismatch, not TLS). */
function isTlsFailure(error: unknown): boolean {
  return (
    error instanceof Error &&
    /SSL routines|alert (bad|unknown|unsupported|expired|revoked) certificate|alert unknown ca|certificate required|unable to verify|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|does not match certificate's altnames|wrong version number/i.test(
      error.message,
    )
  );
}

/** etcd (`--max-request-bytes`) or its gRPC server (that plus 512 KiB) refused a request as too large. */
function isTooLarge(error: unknown): boolean {
  return error instanceof Error && /etcdserver: request is too large|received message larger than max/.test(error.message);
}

function isPermissionError(error: unknown): boolean {
  return (
    error instanceof EtcdPermissionDeniedError ||
    error instanceof EtcdRoleNotGrantedError ||
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof GRPCUnauthenticatedError ||
    // etcd 3.4's answer to a client with no credentials at all while authentication is enabled.
    (error instanceof Error && error.message.includes('etcdserver: user name is empty'))
  );
}

/**
 * The default retry policy for one etcd call: transient errors only, exponential backoff with
 * decorrelated jitter from 25 ms up to 1 s, at most 20 attempts. The library's calls are also
 * bounded by their deadline (`callTimeout`), which ends the retries first: a leader election, or
 * etcd3's circuit breakers open for 5 s after repeated failures, are retried through until then.
 */
export function defaultRetryPolicy(): IPolicy {
  return retry(handleWhen(isTransient), {
    maxAttempts: 19,
    backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }),
  });
}

/**
 * A call's time is shared by at least this many attempts, so one stuck on a frozen member cannot
 * use it all. Not more: a follower holds a request until a new leader is elected (seconds on a
 * loaded machine), and an attempt that times out meanwhile is sent again for nothing (with etcd3's
 * default options, three more times at once, each counted against a member's circuit breaker).
 */
const ATTEMPTS_PER_CALL = 2;

/** How calls to etcd are made: the retry policy and the deadline of each call. */
export interface CallContext {
  readonly policy: IPolicy;
  /** Deadline of one call, its retries included, in milliseconds. */
  readonly callTimeout: number;
}

/**
 * Runs one etcd operation under the retry policy, within `ctx.callTimeout` ms in all, retries and
 * backoff included. Each attempt gets the time left as its gRPC deadline, but at most half of the
 * call's: an attempt stuck on a dead or frozen member leaves time for another, on another member.
 * Rejects with `signal.reason` when the signal aborts (once the attempt in flight has settled, so a
 * write is never left in flight behind the caller's back), {@link PermissionDeniedError} at once on
 * a permission error, and {@link EtcdUnavailableError} when the policy gives up on a transient error
 * or the time is up.
 */
export async function callEtcd<T>(
  ctx: CallContext,
  operation: string,
  fn: (options: CallOptions) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  signal?.throwIfAborted();
  const deadline = Date.now() + ctx.callTimeout;
  let lastError: unknown;
  // Ends the policy's backoff sleep too; no attempt is in flight then, as none outlives `deadline`.
  const timeUp = withDeadline(undefined, ctx.callTimeout, () => new EtcdUnavailableError(`${operation} within ${ctx.callTimeout} ms`, { cause: lastError }));
  // Stops the policy when the time is up, not only when the caller aborts: its retries would
  // otherwise go on behind our back with expired deadlines, each failing at once, and keep etcd3's
  // circuit breaker for the member open (its half-open trial always failed; a lease was lost so).
  const stop = withDeadline([signal, timeUp.signal], undefined, () => new Error('unreachable'));
  try {
    const attempts = ctx.policy.execute(async () => {
      stop.signal.throwIfAborted();
      try {
        return await fn({ deadline: Math.min(deadline, Date.now() + ctx.callTimeout / ATTEMPTS_PER_CALL) });
      } catch (error) {
        lastError = error;
        throw error;
      }
    }, stop.signal);
    return await abortable(attempts, timeUp.signal);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeUp.signal.aborted) throw timeUp.signal.reason;
    if (error instanceof TaskCancelledError) throw signal?.reason ?? error;
    if (isPermissionError(error)) throw new PermissionDeniedError(operation, { cause: error });
    if (isTlsFailure(error)) throw new TlsHandshakeError(operation, { cause: error });
    if (isTooLarge(error)) {
      const what = operation.length > 120 ? `${operation.slice(0, 120)}…` : operation;
      throw new InvalidArgumentError('request', `etcd refused the request to ${what} as too large for its --max-request-bytes: use a shorter name or value`, { cause: error });
    }
    if (isTransient(error)) throw new EtcdUnavailableError(operation, { cause: error });
    throw error;
  } finally {
    timeUp.dispose();
    stop.dispose();
  }
}
