/**
 * Every error this library raises extends {@link EtcdConcurrencyError}; each subclass is one failure
 * a caller can act on, with its context in fields and the underlying etcd error as `cause`.
 * Test with `instanceof`.
 */
export class EtcdConcurrencyError extends Error {
  override readonly name: string = 'EtcdConcurrencyError';
}

/** An argument or option is out of range or of the wrong type. The message names the bad value. */
export class InvalidArgumentError extends EtcdConcurrencyError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    /** The option or argument at fault, e.g. `ttl`. */
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}

/** The session was closed by its owner; nothing more can be acquired through it. */
export class SessionClosedError extends EtcdConcurrencyError {
  override readonly name = 'SessionClosedError';
  constructor(readonly leaseId: string) {
    super(`Session ${leaseId} is closed`);
  }
}

/** Why a lease can no longer be trusted. */
export type LeaseLossReason =
  /** etcd answered a keepalive saying the lease no longer exists (revoked or expired there). */
  | 'revoked'
  /** No keepalive was acknowledged before the conservative local deadline passed. */
  | 'expired';

/**
 * The session's lease is gone, or may be: every key on it is (or may soon be) deleted by etcd.
 * `reason` tells which. Used as `session.signal.reason`.
 */
export class LeaseLostError extends EtcdConcurrencyError {
  override readonly name = 'LeaseLostError';
  constructor(
    readonly leaseId: string,
    readonly reason: LeaseLossReason,
    options?: { cause?: unknown },
  ) {
    super(
      reason === 'revoked'
        ? `Lease ${leaseId} no longer exists in etcd`
        : `Lease ${leaseId} may have expired: no keepalive was acknowledged within its TTL`,
      options,
    );
  }
}

/**
 * Our key (a lock hold, a place in a queue, a leadership) is gone or can no longer be trusted:
 * the lease was lost, the session closed, or the key was deleted or replaced.
 * Used as the `reason` of `lock.signal` and `leadership.signal`; `cause` holds the session's reason
 * when the session is at fault.
 */
export class OwnershipLostError extends EtcdConcurrencyError {
  override readonly name = 'OwnershipLostError';
  constructor(
    /** The lock or election name. */
    readonly lockName: string,
    /** Our key, relative to the client's namespace. */
    readonly key: string,
    /**
     * Why: `'deleted'` (our key was deleted or replaced in etcd), `'session'` (the lease was lost or
     * the session closed: see `cause`) or `'released'` (we let go of it ourselves).
     */
    readonly reason: 'deleted' | 'session' | 'released',
    options?: { cause?: unknown },
  ) {
    super(
      reason === 'deleted'
        ? `Key ${key} of "${lockName}" was deleted from etcd`
        : reason === 'released'
          ? `Key ${key} of "${lockName}" was released`
          : `Key ${key} of "${lockName}" can no longer be trusted: ${describe(options?.cause)}`,
      options,
    );
  }
}

/** `lock()` or `campaign()` waited `timeout` ms without reaching the head of the queue. */
export class LockTimeoutError extends EtcdConcurrencyError {
  override readonly name = 'LockTimeoutError';
  constructor(
    readonly lockName: string,
    /** The timeout that elapsed, in milliseconds. */
    readonly timeout: number,
  ) {
    super(`Timed out after ${timeout} ms waiting for "${lockName}"`);
  }
}

/** `unlock()` or `resign()` on a handle that is not (or no longer) held by this process. */
export class NotHeldError extends EtcdConcurrencyError {
  override readonly name = 'NotHeldError';
  constructor(
    readonly lockName: string,
    readonly key: string,
  ) {
    super(`"${lockName}" (key ${key}) is not held by this handle: it was already released`);
  }
}

/**
 * `proclaim()` on a leadership that was lost or given up: our key is gone, was replaced, or can no
 * longer be trusted, so nothing was written. `cause` is the leadership signal's reason when known.
 */
export class NotLeaderError extends EtcdConcurrencyError {
  override readonly name = 'NotLeaderError';
  constructor(
    /** The election's name. */
    readonly electionName: string,
    /** Our (former) key, relative to the client's namespace. */
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`Not the leader of "${electionName}" (key ${key}) any more: ${describe(options?.cause ?? 'key gone')}`, options);
  }
}

/**
 * etcd could not be reached, or did not answer in time, after the retry policy gave up.
 * `cause` is the last error from the etcd client.
 */
export class EtcdUnavailableError extends EtcdConcurrencyError {
  override readonly name = 'EtcdUnavailableError';
  constructor(
    /** What we were doing, e.g. `grant a lease`. */
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`etcd is unavailable: could not ${operation}: ${describe(options?.cause)}`, options);
  }
}

/** etcd refused the request for lack of permission (authentication or role). Never retried. */
export class PermissionDeniedError extends EtcdConcurrencyError {
  override readonly name = 'PermissionDeniedError';
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`etcd denied permission to ${operation}: ${describe(options?.cause)}`, options);
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message || cause.constructor.name;
  return String(cause);
}
