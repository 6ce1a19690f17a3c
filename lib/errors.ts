/**
 * Every error this library raises extends {@link EtcdConcurrencyError}; each subclass is one failure
 * a caller can act on, with its context in fields and the underlying etcd error as `cause`.
 * Test with `instanceof`.
 */
export class EtcdConcurrencyError extends Error {
  override readonly name: string = 'EtcdConcurrencyError';
}

/**
 * An argument or option is out of range or of the wrong type. The message names the bad value.
 * Also raised when etcd refuses a request as larger than its `--max-request-bytes` (`argument`
 * `'request'`, the etcd error as `cause`): a shorter name or value fits.
 */
export class InvalidArgumentError extends EtcdConcurrencyError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    /** The option or argument at fault, e.g. `ttl`. */
    readonly argument: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
        ? `Key ${clip(key)} of "${clip(lockName)}" was deleted from etcd`
        : reason === 'released'
          ? `Key ${clip(key)} of "${clip(lockName)}" was released`
          : `Key ${clip(key)} of "${clip(lockName)}" can no longer be trusted: ${describe(options?.cause)}`,
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
    super(`Timed out after ${timeout} ms waiting for "${clip(lockName)}"`);
  }
}

/** `unlock()` or `resign()` on a handle that is not (or no longer) held by this process. */
export class NotHeldError extends EtcdConcurrencyError {
  override readonly name = 'NotHeldError';
  constructor(
    readonly lockName: string,
    readonly key: string,
  ) {
    super(`"${clip(lockName)}" (key ${clip(key)}) is not held by this handle: it was already released`);
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
    super(`Not the leader of "${clip(electionName)}" (key ${clip(key)}) any more: ${describe(options?.cause ?? 'key gone')}`, options);
  }
}

/**
 * A read-write lock's write lock was asked for inside a read hold of the same lock (same name and
 * session, in the same async context). An upgrade would wait for our own read hold to end: a
 * deadlock. Release the read lock first, or take the write lock from the start.
 */
export class LockUpgradeError extends EtcdConcurrencyError {
  override readonly name = 'LockUpgradeError';
  constructor(
    readonly lockName: string,
    /** The key of the read hold we are inside. */
    readonly key: string,
  ) {
    super(`Cannot take the write lock of "${clip(lockName)}" inside a read hold of it (key ${clip(key)}): release the read lock first`);
  }
}

/**
 * A semaphore participant's number of permits differs from the one in force: an older entry of the
 * same name was created with another N. Everyone on a name must agree on N; to change it, let the
 * participants with the old N drain, then start those with the new one.
 */
export class PermitsMismatchError extends EtcdConcurrencyError {
  override readonly name = 'PermitsMismatchError';
  constructor(
    readonly lockName: string,
    /** The N we asked with. */
    readonly permits: number,
    /** The N of the older entry. */
    readonly inForce: number,
    /** The older entry's key. */
    readonly key: string,
  ) {
    super(`Semaphore "${clip(lockName)}" has ${inForce} permits (key ${clip(key)}), not ${permits}: every participant must use the same number`);
  }
}

/**
 * A bounded hold reached its end (`maxHold` after the grant, or later if extended): the reason of the
 * handle's `signal`, which aborts a little before the end; the key is then deleted, by us or by etcd.
 */
export class HoldExpiredError extends EtcdConcurrencyError {
  override readonly name = 'HoldExpiredError';
  constructor(
    readonly lockName: string,
    readonly key: string,
    /** How long the hold was allowed in all (`maxHold` plus any extensions), ms. */
    readonly heldFor: number,
  ) {
    super(`The hold of "${clip(lockName)}" (key ${clip(key)}) reached its end after ${heldFor} ms`);
  }
}

/**
 * etcd could not be reached, or did not answer in time, after the retry policy gave up.
 * `cause` is the last error from the etcd client.
 */
export class EtcdUnavailableError extends EtcdConcurrencyError {
  override readonly name: string = 'EtcdUnavailableError';
  constructor(
    /** What we were doing, e.g. `grant a lease`. */
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`etcd is unavailable: could not ${clip(operation)}${options?.cause === undefined ? '' : `: ${describe(options.cause)}`}`, options);
  }
}

/**
 * The TLS handshake with etcd failed: etcd's certificate is not signed by the CA we trust
 * (`caFile`), etcd refused our client certificate (missing, or from a CA it does not trust), the
 * certificate does not name the host we dialled, or the endpoint does not speak TLS. Retrying
 * cannot help, so it is raised at once. A kind of {@link EtcdUnavailableError}; `cause` is the
 * etcd client's error, whose message comes from the TLS library (never key material).
 */
export class TlsHandshakeError extends EtcdUnavailableError {
  override readonly name: string = 'TlsHandshakeError';
  constructor(operation: string, options?: { cause?: unknown }) {
    super(operation, options);
    this.message = `TLS handshake with etcd failed, could not ${clip(operation)}: ${tlsHint(options?.cause)}: ${describe(options?.cause)}`;
  }
}

function tlsHint(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate has expired|CERT_/i.test(text)) {
    return "etcd's certificate is not trusted (check the CA file, caFile / --cacert)";
  }
  if (/altnames|hostname/i.test(text)) return "etcd's certificate does not name the host dialled";
  if (/wrong version number|packet length too long/i.test(text)) return 'the endpoint does not speak TLS';
  if (/alert|certificate required/i.test(text)) {
    return 'etcd refused our client certificate: missing, or not signed by a CA etcd trusts (certFile and keyFile / --cert and --key)';
  }
  return 'see the cause';
}

/** etcd refused the request for lack of permission (authentication or role). Never retried. */
export class PermissionDeniedError extends EtcdConcurrencyError {
  override readonly name = 'PermissionDeniedError';
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`etcd denied permission to ${clip(operation)}: ${describe(options?.cause)}`, options);
  }
}

/**
 * Cuts a name, key or operation in a message (the error's fields keep it whole): a name may be up to
 * 64 KiB, and one error must not make a 64 KiB log line.
 */
function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} characters)`;
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message || cause.constructor.name;
  return String(cause);
}

/** A callback given to a `LeaderElector` threw; `cause` is what it threw. Reported to `onError`. */
export class CallbackError extends EtcdConcurrencyError {
  override readonly name = 'CallbackError';
  constructor(
    /** Which callback: `onStartedLeading`, `onStoppedLeading` or `onNewLeader`. */
    readonly callback: string,
    cause: unknown,
  ) {
    super(`LeaderElector's ${callback} threw: ${describe(cause)}`, { cause });
  }
}

/** `LeaderElector.stop()` was called: the reason a `start()` still waiting for its session rejects with. */
export class ElectorStoppedError extends EtcdConcurrencyError {
  override readonly name = 'ElectorStoppedError';
  constructor(readonly electionName: string) {
    super(`LeaderElector for "${clip(electionName)}" stopped`);
  }
}
