import { requireSession } from '../session/require.js';
import { waitStarted } from '../observe/instrument.js';
import { InvalidArgumentError } from '../errors.js';
import { validateHoldMs } from '../queue/bounded.js';
import { observed } from '../queue/rules/observed.js';
import { permitValue, semaphoreRule } from '../queue/rules/semaphore.js';
import type { Ticket } from '../queue/ticket.js';
import type { Rule } from '../queue/rule.js';
import { takeTurn } from '../queue/turn.js';
import { Session } from '../session/session.js';
import { pause } from '../util/abort.js';
import { validateName, validateSignal, validateTimeout } from '../util/validate.js';
import { holdOf } from './hold.js';
import { Permit } from './permit.js';
import { runHeld } from './run-held.js';

/** Options of {@link Semaphore}. */
export interface SemaphoreOptions {
  /** N: how many permits the semaphore has. A whole number ≥ 1; everyone on the name must agree. */
  permits: number;
}

/** Options of {@link Semaphore.acquire} and {@link Semaphore.withPermit}. */
export interface AcquireOptions {
  /** How many permits to take at once, as one entry: from 1 to N. Default: `1`. */
  weight?: number;
  /** Stops waiting: rejects with `signal.reason` after deleting our key. Default: none. */
  signal?: AbortSignal;
  /** Gives up after this many ms with a {@link LockTimeoutError}, after deleting our key. Default: wait forever. */
  timeout?: number;
  /** Ends the hold this many ms after the grant, as `Mutex`'s `maxHold`. Default: no limit. */
  maxHold?: number;
}

/** Attempts of the wake write (one retry a second) before leaving the successor to the next change. */
const WAKE_ATTEMPTS = 5;

/**
 * A fair distributed counting semaphore: at most N permits held at any time, as etcd sees it,
 * served in the order they were asked for (etcd create-revision order; a newcomer never overtakes a
 * waiter, and a weighted request at the head holds back lighter ones behind it rather than
 * starving). A release wakes at most the one waiter it can admit: the head waiter alone watches for
 * releases, every other waiter watches its predecessor. A holder that crashes frees its permits when
 * its session's lease expires.
 *
 * Each acquisition is one key `<name>/<lease id>[_<slot>]` whose value is
 * `{"permits":N,"weight":k}`: N is stored with every entry, and a participant whose N differs from
 * an older entry's is refused with a {@link PermitsMismatchError}. To change N, let the
 * participants with the old N drain, then start those with the new one. A `Mutex` or `etcdctl lock`
 * on the same name takes all N permits.
 *
 * @example
 * ```ts
 * const jobs = new Semaphore(session, 'jobs/transcode', { permits: 4 });
 * await jobs.withPermit(async permit => transcode(file, { signal: permit.signal }));
 * ```
 */
export class Semaphore {
  /** The semaphore's name; its keys live under `name + '/'`. */
  readonly name: string;
  /** N. */
  readonly permits: number;
  /** The value and the rule of an entry of each weight asked for so far (most ask for 1). */
  private readonly kinds = new Map<number, { readonly value: string; readonly rule: Rule }>();

  /**
   * @throws {InvalidArgumentError} a bad session, name or `permits`.
   */
  constructor(
    readonly session: Session,
    name: string,
    options: SemaphoreOptions,
  ) {
    requireSession(session, 'A Semaphore');
    this.name = validateName(name);
    const permits = (options as SemaphoreOptions | undefined)?.permits;
    if (typeof permits !== 'number' || !Number.isSafeInteger(permits) || permits < 1) {
      throw new InvalidArgumentError('permits', `permits must be a whole number ≥ 1. Got: ${String(permits)}`);
    }
    this.permits = permits;
  }

  /**
   * Waits until `weight` permits are ours, and returns them.
   *
   * @throws {PermitsMismatchError} an older participant uses another N; our key was deleted.
   * @throws {LockTimeoutError} `timeout` elapsed first; our key was deleted.
   * @throws `signal.reason` the signal aborted; our key was deleted.
   * @throws {OwnershipLostError} our key vanished while we waited (lease lost, key deleted).
   * @throws {SessionClosedError} the session is closed.
   * @throws {InvalidArgumentError} a bad option (e.g. `weight` above N).
   * @throws {EtcdUnavailableError} etcd could not be reached.
   */
  async acquire(options: AcquireOptions = {}): Promise<Permit> {
    return (await this.take('wait', options))!;
  }

  /**
   * Takes `weight` permits only if they are free and nobody waits; never waits.
   * @returns the permits, or `null` at once.
   */
  tryAcquire(options: Pick<AcquireOptions, 'weight' | 'maxHold'> = {}): Promise<Permit | null> {
    return this.take('try', options);
  }

  /** Runs `fn` holding `weight` permits, and gives them back when `fn` returns or throws. @returns what `fn` returns. */
  async withPermit<T>(fn: (permit: Permit) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    return runHeld(await this.acquire(options), fn, false);
  }

  private async take(mode: 'wait' | 'try', options: AcquireOptions): Promise<Permit | null> {
    const weight = options.weight ?? 1;
    if (typeof weight !== 'number' || !Number.isSafeInteger(weight) || weight < 1 || weight > this.permits) {
      throw new InvalidArgumentError('weight', `weight must be a whole number from 1 to ${this.permits} (the permits). Got: ${String(weight)}`);
    }
    const signal = validateSignal(options.signal);
    const timeout = validateTimeout('timeout', options.timeout);
    const maxHold = options.maxHold === undefined ? undefined : validateHoldMs('maxHold', options.maxHold);
    const { value, rule } = this.kindOf(weight);
    const turn = observed(rule);
    const wait = waitStarted('semaphore', this.name, this.session.leaseId, signal);
    const ticket = await wait.track(takeTurn(this.session, this.name, { rule: turn.rule, mode, signal, timeout, value }));
    if (!ticket) return null;
    // A holder that waited may have a successor watching it as a waiter: one write wakes it. Before
    // bounding the hold (the write puts the key on the session's lease).
    if (turn.waited) {
      const woken = wake(ticket, value);
      if (maxHold !== undefined) await woken;
    }
    return new Permit(await holdOf(ticket, maxHold), weight, this.permits);
  }

  private kindOf(weight: number): { readonly value: string; readonly rule: Rule } {
    let kind = this.kinds.get(weight);
    if (!kind) this.kinds.set(weight, (kind = { value: permitValue(this.permits, weight), rule: semaphoreRule(this.name, this.permits, weight) }));
    return kind;
  }
}

/** Writes our key once (same value) so that a successor watching it re-reads the queue. */
async function wake(ticket: Ticket, value: string): Promise<void> {
  for (let attempt = 1; attempt <= WAKE_ATTEMPTS && !ticket.signal.aborted; attempt++) {
    try {
      await ticket.update(value, ticket.signal);
      return;
    } catch {
      // etcd unavailable for now: try again (the successor also wakes when our key goes).
      await pause(1000, ticket.signal);
    }
  }
}
