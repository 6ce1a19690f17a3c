import { requireSession } from '../session/require.js';
import { readLeader, watchLeader, type LeaderInfo } from './observe.js';
import { Leadership, validateValue } from './leadership.js';
import { waitStarted } from '../observe/instrument.js';
import { exclusive } from '../queue/rule.js';
import { takeTurn } from '../queue/turn.js';
import { Session } from '../session/session.js';
import { validateName, validateSignal, validateTimeout } from '../util/validate.js';

/** Options of {@link Election.campaign}. */
export interface CampaignOptions {
  /**
   * Stops campaigning: `campaign()` rejects with `signal.reason` once our key is deleted (or, if etcd
   * does not answer within a second, while its deletion goes on in the background). Default: none.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many ms with a {@link LockTimeoutError}, deleting our key as on abort; `0`
   * campaigns only if nobody leads or waits. Default: wait forever.
   */
  timeout?: number;
}

/** Options of {@link Election.observe}. */
export interface ObserveOptions {
  /** Ends the iteration (and stops its watch) when it aborts. Default: none (end it with `break`). */
  signal?: AbortSignal;
}

/**
 * Leader election on etcd: candidates queue in the order they campaigned (etcd create-revision
 * order, the same FIFO queue as {@link Mutex}), the oldest is the leader, and when it resigns or its
 * lease ends the next one takes over. Keys follow etcd's own layout (`<name>/<lease id in hex>`,
 * value = the proclaimed value), so `etcdctl elect <name> <value>` campaigns in the same election
 * and `etcdctl elect -l <name>` observes it.
 *
 * @example
 * ```ts
 * const election = new Election(session, 'schedulers/billing');
 * const leadership = await election.campaign('pod-a:8080', { signal });
 * try {
 *   await runScheduler({ signal: leadership.signal, fencingToken: leadership.fencingToken });
 * } finally {
 *   await leadership.resign();
 * }
 * ```
 */
export class Election {
  /** The election's name; its keys live under `name + '/'`. */
  readonly name: string;

  /**
   * @param session the session whose lease carries our candidacy: if it ends, so does our leadership.
   * @param name the election's name: a non-empty string. `a` and `a/b` are independent elections.
   * @throws {InvalidArgumentError} a bad session or name.
   */
  constructor(
    readonly session: Session,
    name: string,
  ) {
    requireSession(session, 'An Election');
    this.name = validateName(name);
  }

  /**
   * Becomes a candidate with `value` and waits for its turn: resolves once every candidate that
   * campaigned before us has resigned or lost its lease. Our key exists from the call on, with
   * `value` in it, so `leader()` and observers see the value the moment we lead.
   *
   * Never resolves for a campaign that is no longer in the running: if our key was deleted while we
   * waited it rejects with {@link OwnershipLostError}, if our lease was lost with
   * {@link LeaseLostError}; after an abort or a timeout it rejects (our key deleted first), even if
   * our turn came at the same moment.
   *
   * @throws {LockTimeoutError} `timeout` elapsed first; our key was deleted.
   * @throws `signal.reason` the signal aborted; our key was deleted.
   * @throws {OwnershipLostError} our key was deleted while we waited, the lease still alive (`reason: 'deleted'`).
   * @throws {LeaseLostError} the session's lease was revoked or expired while we waited.
   * @throws {SessionClosedError} the session is closed.
   * @throws {InvalidArgumentError} a bad value, `timeout` or `signal`.
   * @throws {EtcdUnavailableError} etcd could not be reached.
   */
  async campaign(value: string, options: CampaignOptions = {}): Promise<Leadership> {
    validateValue(value);
    const signal = validateSignal(options.signal);
    const timeout = validateTimeout('timeout', options.timeout);
    // The turn loop re-checks `signal` and our key before granting: never a zombie leader.
    const wait = waitStarted('election', this.name, this.session.leaseId, signal);
    const ticket = await wait.track(takeTurn(this.session, this.name, { rule: exclusive, mode: 'wait', value, signal, timeout }));
    return new Leadership(ticket!, value);
  }

  /**
   * The current leader: the candidate with the oldest key, with the value it last proclaimed, or
   * `undefined` when nobody campaigns. One linearizable read.
   *
   * @throws {EtcdUnavailableError} etcd could not be reached.
   */
  async leader(): Promise<LeaderInfo | undefined> {
    const { leader } = await readLeader(this.session.client, this.session.ctx, this.name);
    return leader;
  }

  /**
   * Watches the leader: yields the current leader (or `undefined` when there is none) at once, then
   * every change, in order: a new leader, a new value proclaimed by the same leader, or no leader.
   * Never yields an older leader after a newer one, nor the same state twice in a row. Keeps going
   * across watch reconnects and compaction by reading the state again (leaders that came and went
   * while it was cut off are skipped). Only uses the session's client, not its lease: it outlives
   * the session. Stops its watch when `signal` aborts (the iteration then ends) or the loop breaks.
   *
   * @throws {InvalidArgumentError} a bad `signal`.
   * @throws {PermissionDeniedError} (from the iteration) etcd refused to let us read or watch.
   *
   * @example
   * ```ts
   * for await (const leader of election.observe({ signal })) {
   *   console.log(leader ? `leader: ${leader.value}` : 'no leader');
   * }
   * ```
   */
  observe(options: ObserveOptions = {}): AsyncGenerator<LeaderInfo | undefined, void, undefined> {
    const signal = validateSignal(options.signal);
    return watchLeader(this.session.client, this.session.ctx, this.name, signal);
  }
}
