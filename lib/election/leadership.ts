import type { ComparatorBuilder } from 'etcd3';
import { InvalidArgumentError, NotHeldError, NotLeaderError } from '../errors.js';
import type { Ticket } from '../queue/ticket.js';
import { MAX_REQUEST_BYTES, validateSignal } from '../util/validate.js';

/** @internal Checks a proclaimed value: a string that fits in an etcd request with its key. */
export function validateValue(value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError('value', `An election value must be a string. Got: ${typeof value === 'object' ? Object.prototype.toString.call(value) : String(value)}`);
  }
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_REQUEST_BYTES / 2) {
    throw new InvalidArgumentError('value', `An election value must be at most ${MAX_REQUEST_BYTES / 2} bytes. Got: ${bytes} bytes`);
  }
  return value;
}

/**
 * Won leadership of an election: what `Election.campaign()` returns. Give it up with
 * {@link resign} or `await using`.
 *
 * @example
 * ```ts
 * await using leadership = await election.campaign('pod-a:8080');
 * while (!leadership.signal.aborted) {
 *   await leadership.ifLeader().then(client.put('billing/last-run').value(String(leadership.fencingToken))).commit();
 *   await setTimeout(60_000, undefined, { signal: leadership.signal }).catch(() => undefined);
 * }
 * ```
 */
export class Leadership implements AsyncDisposable {
  private current: string;
  private resigned = false;

  /** @internal */
  constructor(
    private readonly entry: Ticket,
    value: string,
  ) {
    this.current = value;
  }

  /** The election's name. */
  get name(): string {
    return this.entry.name;
  }

  /**
   * Our key in etcd, relative to the client's namespace: `<name>/<lease id in hex>`, or
   * `<name>/<lease id in hex>_<n>` when the same session campaigns more than once at a time.
   */
  get key(): string {
    return this.entry.key;
  }

  /** The value we last proclaimed (what `election.leader()` and observers see). */
  get value(): string {
    return this.current;
  }

  /** The session's lease id (hex). */
  get leaseId(): string {
    return this.entry.session.leaseId;
  }

  /**
   * The create revision of our key. Strictly greater than every earlier leader's token: pass it
   * to whatever the leader writes to, and have that refuse a token smaller than one it has seen.
   */
  get fencingToken(): bigint {
    return this.entry.createRevision;
  }

  /**
   * Aborts when leadership can no longer be trusted or is given up: our key was deleted, the
   * session's lease was lost or the session closed, or we resigned. `reason` is an
   * {@link OwnershipLostError} (`reason: 'deleted' | 'session' | 'released'`).
   */
  get signal(): AbortSignal {
    return this.entry.signal;
  }

  /** True until we resign or leadership is lost. */
  get isLeader(): boolean {
    return !this.resigned && !this.signal.aborted;
  }

  /**
   * Publishes a new value while we are still the leader: one transaction that writes our key only
   * if it still has our create revision. Observers see the new value; the fencing token is unchanged.
   *
   * @throws {NotLeaderError} we resigned, our key is gone or replaced, or the lease can no longer be
   * trusted; nothing was written. `cause` is the signal's reason.
   * @throws {EtcdUnavailableError} etcd could not be reached.
   * @throws `options.signal.reason` the signal aborted first.
   */
  async proclaim(value: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    validateValue(value);
    const signal = validateSignal(options.signal);
    if (!this.isLeader) throw new NotLeaderError(this.name, this.key, { cause: this.signal.reason });
    const written = await this.entry.update(value, signal);
    if (!written) throw new NotLeaderError(this.name, this.key, { cause: this.signal.reason });
    this.current = value;
  }

  /**
   * An etcd3 transaction that commits only while we lead (our key still has our create revision).
   * Add conditions with `.and()`, operations with `.then()`, and check `succeeded`.
   *
   * @example
   * ```ts
   * const { succeeded } = await leadership.ifLeader().then(client.put('config').value(v)).commit();
   * ```
   */
  ifLeader(): ComparatorBuilder {
    const { session, key, createRevision } = this.entry;
    return session.client.if(key, 'Create', '==', createRevision.toString());
  }

  /**
   * Gives up leadership: deletes our key only if it is still ours, so the next candidate takes over
   * at once (one round trip) instead of after the TTL. {@link signal} aborts with reason
   * `'released'` first. Safe after leadership was lost.
   *
   * @throws {NotHeldError} this handle already resigned.
   * @throws {EtcdUnavailableError} etcd could not be reached; the key is deleted in the background
   * (or by the lease) later.
   */
  async resign(): Promise<void> {
    if (this.resigned) throw new NotHeldError(this.name, this.key);
    this.resigned = true;
    await this.entry.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.resigned) await this.resign();
  }
}
