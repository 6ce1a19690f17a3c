import { requireSession } from '../session/require.js';
import { Lock } from './lock.js';
import { prefixOf } from '../queue/layout.js';
import { exclusive } from '../queue/rule.js';
import { takeTurn } from '../queue/turn.js';
import { currentHold, runHolding } from './reentry.js';
import { holdOf } from './hold.js';
import { validateHoldMs } from '../queue/bounded.js';
import { isReaderKey } from '../queue/layout.js';
import { Session } from '../session/session.js';
import { LockUpgradeError } from '../errors.js';
import { waitStarted } from '../observe/instrument.js';
import { validateName, validateSignal, validateTimeout } from '../util/validate.js';

/** Options of {@link Mutex.lock} and {@link Mutex.withLock}. */
export interface LockOptions {
  /**
   * Stops waiting: `lock()` rejects with `signal.reason` once our key is deleted (or, if etcd does
   * not answer within a second, while its deletion goes on in the background). Default: none.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many ms with a {@link LockTimeoutError}, deleting our key as on abort; `0`
   * tries once and never waits. Default: wait forever.
   */
  timeout?: number;
  /**
   * Ends the hold this many ms after the grant even if this process is alive: the lock's `signal`
   * aborts with a {@link HoldExpiredError} a little before, and etcd deletes the key by then even if
   * the process is stuck. `lock.extend(ms)` pushes the end out. A whole number ≥ 1. Default: no
   * limit (the hold lasts while the session's lease does). Ignored when re-entering.
   */
  maxHold?: number;
}

/**
 * A fair distributed lock: callers are served in the order they asked (etcd create-revision order),
 * and a release wakes exactly the next waiter. Keys follow etcd's own layout (`<name>/<lease id>`),
 * so a `Mutex` and `etcdctl lock <name>` exclude each other.
 *
 * @example
 * ```ts
 * const mutex = new Mutex(session, 'jobs/nightly');
 * await mutex.withLock(async lock => {
 *   await lock.ifOwner().then(client.put('jobs/last-run').value(Date.now())).commit();
 * }, { timeout: 5_000 });
 * ```
 */
export class Mutex {
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
    requireSession(session, 'A Mutex');
    this.name = validateName(name);
    this.prefix = prefixOf(this.name);
  }

  /**
   * Waits for our turn and returns the held lock. Called from inside a `withLock()` callback of the
   * same lock and session, it re-enters (same key and fencing token, counted).
   *
   * @throws {LockTimeoutError} `timeout` elapsed first; our key was deleted.
   * @throws `signal.reason` the signal aborted; our key was deleted.
   * @throws {OwnershipLostError} our key was deleted while we waited, the lease still alive (`reason: 'deleted'`).
   * @throws {LeaseLostError} the session's lease was revoked or expired while we waited.
   * @throws {SessionClosedError} the session is closed.
   * @throws {EtcdUnavailableError} etcd could not be reached.
   */
  async lock(options: LockOptions = {}): Promise<Lock> {
    const signal = validateSignal(options.signal);
    const timeout = validateTimeout('timeout', options.timeout);
    const maxHold = options.maxHold === undefined ? undefined : validateHoldMs('maxHold', options.maxHold);
    const reentered = this.reenter();
    if (reentered) return reentered;
    const wait = waitStarted('mutex', this.name, this.session.leaseId, signal);
    const ticket = await wait.track(takeTurn(this.session, this.name, { rule: exclusive, mode: 'wait', signal, timeout }));
    return new Lock(await holdOf(ticket!, maxHold));
  }

  /**
   * Takes the lock only if nobody holds it or waits for it; never waits.
   * @returns the held lock, or `null` at once.
   */
  async tryLock(options: Pick<LockOptions, 'maxHold'> = {}): Promise<Lock | null> {
    const maxHold = options.maxHold === undefined ? undefined : validateHoldMs('maxHold', options.maxHold);
    const reentered = this.reenter();
    if (reentered) return reentered;
    const wait = waitStarted('mutex', this.name, this.session.leaseId);
    const ticket = await wait.track(takeTurn(this.session, this.name, { rule: exclusive, mode: 'try' }));
    return ticket && new Lock(await holdOf(ticket, maxHold));
  }

  /**
   * Runs `fn` while holding the lock, and releases it when `fn` returns or throws. Inside `fn`,
   * `lock()`, `tryLock()` and `withLock()` on the same lock and session re-enter.
   *
   * @returns what `fn` returns.
   */
  async withLock<T>(fn: (lock: Lock) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    const lock = await this.lock(options);
    let result: T;
    try {
      result = await runHolding(lock.hold, () => fn(lock));
    } catch (error) {
      await lock.unlock().catch(() => undefined);
      throw error;
    }
    await lock.unlock();
    return result;
  }

  private reenter(): Lock | undefined {
    const hold = currentHold(this.session, this.prefix);
    if (!hold || hold.count === 0) return undefined;
    // Inside a read hold of a read-write lock of the same name: an upgrade would deadlock.
    if (isReaderKey(hold.entry.key)) throw new LockUpgradeError(this.name, hold.entry.key);
    hold.signal.throwIfAborted();
    hold.count++;
    return new Lock(hold);
  }
}
