import type { ComparatorBuilder } from 'etcd3';
import { InvalidArgumentError, NotHeldError } from '../errors.js';
import type { Hold } from './hold.js';

/**
 * A held lock: the proof of ownership that `Mutex.lock()` returns. Release it with {@link unlock}
 * or `await using`.
 */
export class Lock implements AsyncDisposable {
  private unlocked = false;

  /** @internal The hold this handle shares with the handles that re-entered it. */
  readonly hold: Hold;

  /** @internal */
  constructor(hold: Hold) {
    this.hold = hold;
  }

  /** The lock's name. */
  get name(): string {
    return this.hold.entry.name;
  }

  /**
   * Our key in etcd, relative to the client's namespace: `<name>/<lease id in hex>`, or
   * `<name>/<lease id in hex>_<n>` when the same session waits for the same name more than once.
   */
  get key(): string {
    return this.hold.entry.key;
  }

  /**
   * The create revision of our key. Strictly greater than every earlier holder's token: give it
   * to any external resource the lock protects, and have that resource reject writes that carry a
   * smaller token than one it has already seen.
   */
  get fencingToken(): bigint {
    return this.hold.entry.createRevision;
  }

  /** The session's lease id (hex). */
  get leaseId(): string {
    return this.hold.entry.session.leaseId;
  }

  /**
   * Aborts when ownership can no longer be trusted: our key was deleted, the session's lease was
   * lost or the session closed, or the lock was released; `reason` is then an
   * {@link OwnershipLostError}. A hold taken with `maxHold` also aborts a little before its end
   * (a tenth of the hold, at most 1 s), with a {@link HoldExpiredError}. Pass it to the work the
   * lock protects.
   */
  get signal(): AbortSignal {
    return this.hold.signal;
  }

  /**
   * Pushes the end of a hold taken with `maxHold` out by `ms` milliseconds.
   *
   * @throws {InvalidArgumentError} the hold was taken without `maxHold`, or a bad `ms`.
   * @throws {NotHeldError} this handle was unlocked.
   * @throws {HoldExpiredError} or {@link OwnershipLostError} (the signal's reason) the hold already ended.
   */
  async extend(ms: number): Promise<void> {
    if (!this.hold.bound) throw new InvalidArgumentError('maxHold', `extend() needs a hold taken with maxHold: ${this.key} has no end to push out`);
    if (this.unlocked) throw new NotHeldError(this.name, this.key);
    await this.hold.bound.extend(ms);
  }

  /** True until this handle is unlocked or ownership is lost. */
  get held(): boolean {
    return !this.unlocked && !this.signal.aborted;
  }

  /**
   * An etcd3 transaction that commits only while our key is still ours (its create revision is
   * unchanged). Add conditions with `.and()`, operations with `.then()`, and check `succeeded`.
   *
   * @example
   * ```ts
   * const { succeeded } = await lock.ifOwner().then(client.put('counter').value(n + 1)).commit();
   * ```
   */
  ifOwner(): ComparatorBuilder {
    const { session, key, createRevision } = this.hold.entry;
    return session.client.if(key, 'Create', '==', createRevision.toString());
  }

  /**
   * Releases the lock: deletes our key only if it is still ours, so a late or repeated release
   * never deletes a newer holder's key. Inside a re-entered section, only the outermost unlock
   * deletes the key.
   *
   * @throws {NotHeldError} this handle was already unlocked.
   * @throws {EtcdUnavailableError} etcd could not be reached; the key is deleted in the background
   * (or by the lease) later.
   */
  async unlock(): Promise<void> {
    if (this.unlocked) throw new NotHeldError(this.name, this.key);
    this.unlocked = true;
    if (--this.hold.count > 0) return;
    await this.hold.entry.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.unlocked) await this.unlock();
  }
}
