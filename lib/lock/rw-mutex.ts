import { requireSession } from '../session/require.js';
import { waitStarted } from '../observe/instrument.js';
import { LockUpgradeError } from '../errors.js';
import { validateHoldMs } from '../queue/bounded.js';
import { isReaderKey, prefixOf, READER_MARKER } from '../queue/layout.js';
import { reader, writer } from '../queue/rules/read-write.js';
import { takeTurn } from '../queue/turn.js';
import { Session } from '../session/session.js';
import { validateName, validateSignal, validateTimeout } from '../util/validate.js';
import { holdOf } from './hold.js';
import { Lock } from './lock.js';
import type { LockOptions } from './mutex.js';
import { currentHold } from './reentry.js';
import { runHeld } from './run-held.js';

/** Options of {@link RWMutex.tryReadLock} and {@link RWMutex.tryWriteLock}. */
export interface TryLockOptions {
  /** As in {@link LockOptions.maxHold}. Default: no limit. */
  maxHold?: number;
}

type Mode = 'read' | 'write';

/**
 * A fair distributed read-write lock: readers share it, a writer has it alone. One FIFO queue of
 * readers and writers in the order they asked (etcd create-revision order): a writer waits for
 * every older entry, a reader only for older writers, so neither side starves, and consecutive
 * readers hold together. Each waiter watches exactly one key: a writer's release lets in every
 * reader queued directly behind it at once, and no one else.
 *
 * Keys follow etcd's layout: a writer's is `<name>/<lease id>` (so a {@link Mutex} or
 * `etcdctl lock <name>` on the same name counts as a writer, and they exclude each other), a
 * reader's `<name>/<lease id>.read`.
 *
 * Re-entry (inside `withReadLock()`/`withWriteLock()` on the same name and session): inside a write
 * hold, both read and write re-enter the held key; inside a read hold, a read re-enters and a write
 * rejects at once with a {@link LockUpgradeError} (an upgrade would wait for itself).
 *
 * @example
 * ```ts
 * const rw = new RWMutex(session, 'config');
 * const config = await rw.withReadLock(() => readConfig());
 * await rw.withWriteLock(async lock => writeConfig(next, lock.fencingToken), { timeout: 5_000 });
 * ```
 */
export class RWMutex {
  /** The lock's name; its keys live under `name + '/'`. */
  readonly name: string;
  private readonly prefix: string;

  /**
   * @param session the session whose lease carries our keys.
   * @param name the lock's name: a non-empty string. `a` and `a/b` are independent locks.
   * @throws {InvalidArgumentError} a bad session or name.
   */
  constructor(
    readonly session: Session,
    name: string,
  ) {
    requireSession(session, 'An RWMutex');
    this.name = validateName(name);
    this.prefix = prefixOf(this.name);
  }

  /**
   * Waits until no older writer is left, and returns the held read lock.
   *
   * @throws {LockTimeoutError} `timeout` elapsed first; our key was deleted.
   * @throws `signal.reason` the signal aborted; our key was deleted.
   * @throws {OwnershipLostError} our key vanished while we waited (lease lost, key deleted).
   * @throws {SessionClosedError} the session is closed.
   * @throws {EtcdUnavailableError} etcd could not be reached.
   */
  readLock(options: LockOptions = {}): Promise<Lock> {
    return this.acquire('read', options).then(lock => lock!);
  }

  /**
   * Waits until no older entry (reader or writer) is left, and returns the held write lock.
   *
   * @throws {LockUpgradeError} called inside a read hold of this lock.
   * @throws as {@link readLock}.
   */
  writeLock(options: LockOptions = {}): Promise<Lock> {
    return this.acquire('write', options).then(lock => lock!);
  }

  /** Takes the read lock only if no writer holds it or waits for it; never waits. @returns the lock, or `null`. */
  tryReadLock(options: TryLockOptions = {}): Promise<Lock | null> {
    return this.acquire('read', options, 'try');
  }

  /** Takes the write lock only if nobody holds it or waits for it; never waits. @returns the lock, or `null`. */
  tryWriteLock(options: TryLockOptions = {}): Promise<Lock | null> {
    return this.acquire('write', options, 'try');
  }

  /** Runs `fn` holding the read lock, and releases it when `fn` returns or throws. @returns what `fn` returns. */
  async withReadLock<T>(fn: (lock: Lock) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    return runHeld(await this.readLock(options), fn, true);
  }

  /** Runs `fn` holding the write lock, and releases it when `fn` returns or throws. @returns what `fn` returns. */
  async withWriteLock<T>(fn: (lock: Lock) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    return runHeld(await this.writeLock(options), fn, true);
  }

  private async acquire(mode: Mode, options: LockOptions, turn: 'wait' | 'try' = 'wait'): Promise<Lock | null> {
    const signal = validateSignal(options.signal);
    const timeout = validateTimeout('timeout', options.timeout);
    const maxHold = options.maxHold === undefined ? undefined : validateHoldMs('maxHold', options.maxHold);
    const reentered = this.reenter(mode);
    if (reentered) return reentered;
    const wait = waitStarted(mode === 'read' ? 'rwlock-read' : 'rwlock-write', this.name, this.session.leaseId, signal);
    const ticket = await wait.track(
      takeTurn(this.session, this.name, {
        rule: mode === 'read' ? reader : writer,
        marker: mode === 'read' ? READER_MARKER : '',
        mode: turn,
        signal,
        timeout,
      }),
    );
    return ticket && new Lock(await holdOf(ticket, maxHold));
  }

  private reenter(mode: Mode): Lock | undefined {
    const hold = currentHold(this.session, this.prefix);
    if (!hold || hold.count === 0) return undefined;
    if (mode === 'write' && isReaderKey(hold.entry.key)) throw new LockUpgradeError(this.name, hold.entry.key);
    hold.signal.throwIfAborted();
    hold.count++;
    return new Lock(hold);
  }
}
