import { EtcdUnavailableError, LockTimeoutError, OwnershipLostError } from '../errors.js';
import { watch, type WatchTarget } from '../etcd/watch.js';
import type { Session } from '../session/session.js';
import { pause } from '../util/abort.js';
import { Backoff } from '../util/backoff.js';
import { decide, type Page } from './read.js';
import type { Decision, Entry, Rule } from './rule.js';
import { Ticket } from './ticket.js';
import { Waiting } from './waiting.js';

/** How long a failed acquisition waits for its key's deletion before leaving it to the background, ms. */
const ABANDON_GRACE_MS = 1000;
/**
 * A hold granted at once starts watching its own key this long after the grant (a waiter at once):
 * the shortest holds cost no watch, and a deletion meanwhile still arrives when the watch starts.
 */
const GUARD_DELAY_MS = 50;
/** Longest pause between reads of the queue while etcd is unavailable (each read has its own retries), ms. */
const READ_RETRY_MAX_MS = 1000;

/** How to take a turn in a queue. */
export interface TurnOptions {
  /** The admission rule of the lock kind. */
  readonly rule: Rule;
  /**
   * `'wait'` for our turn; `'try'` only takes a turn that is ours at once (else resolves `null`).
   * A `timeout` of 0 also never waits, but rejects with a {@link LockTimeoutError}.
   */
  readonly mode: 'wait' | 'try';
  /** Aborts the wait; rejects with `signal.reason` after our key is deleted. */
  readonly signal?: AbortSignal;
  /** Gives up after this many ms with a {@link LockTimeoutError}. Default: no limit. */
  readonly timeout?: number;
  /** The value stored in our key (an election's proclaimed value). Default: empty. */
  readonly value?: string | Buffer;
  /** A suffix of our key that tells our kind (a reader's `.read`, see `layout.ts`). Default: none. */
  readonly marker?: string;
}

/**
 * The one turn loop under every lock kind: creates our ticket, then reads, asks the rule, and
 * watches what the rule names, until the rule grants our turn.
 *
 * Each watch starts "now" (etcd serves it at once, where one from a past revision waits for its
 * 100 ms catch-up loop) and is followed by a read, so nothing that happens is missed and nothing
 * reaches us late. Reads retry through transient faults for as long as the caller waits: a member
 * down, a leader election or a reset connection must not cost a waiter its place. Before granting,
 * the caller's signal and our key are checked once more, so a turn that comes in the same instant
 * as an abort, a timeout or the loss of our key is never handed out (no zombie holder). On any
 * failure our key is deleted (within a grace of a second, else in the background) before this
 * rejects.
 *
 * @returns our ticket, granted; `null` in `'try'` mode when the turn was not ours at once.
 * @throws {LockTimeoutError} the timeout elapsed first.
 * @throws `signal.reason` the signal aborted first.
 * @throws {LeaseLostError} or {@link SessionClosedError} the session ended while we waited (also
 * when our key's deletion, by the lease's revocation or expiry, was noticed first).
 * @throws {OwnershipLostError} our key was deleted while we waited (the lease still alive).
 */
export async function takeTurn(session: Session, name: string, options: TurnOptions): Promise<Ticket | null> {
  options.signal?.throwIfAborted();
  session.throwIfEnded();
  const { rule, timeout } = options;
  const never = timeout === 0;
  const ticket = new Ticket(session, name, options.value, options.marker);
  const waiting = new Waiting(ticket, options.signal, never ? undefined : timeout, name);
  try {
    const first = await waiting.race(ticket.create(rule, timeout));
    const decision = await decideAt(ticket, rule, first, waiting);
    if (decision.kind === 'refuse') throw decision.error;
    if (decision.kind !== 'granted' && (options.mode === 'try' || never)) {
      await ticket.release();
      if (never) throw new LockTimeoutError(name, 0);
      return null;
    }
    ticket.guard(decision.kind === 'granted' ? GUARD_DELAY_MS : 0);
    if (decision.kind !== 'granted') await waitForTurn(ticket, rule, decision, waiting);
    // Our turn came, but the caller gave up (or our key went) in the same instant: no zombie.
    options.signal?.throwIfAborted();
    ticket.throwIfEnded();
    return ticket;
  } catch (error) {
    const reason = await lossReason(ticket, waiting.aborted && !(error instanceof LockTimeoutError) ? waiting.reason : error);
    await Promise.race([ticket.abandon(), pause(ABANDON_GRACE_MS)]);
    throw reason;
  } finally {
    waiting.dispose();
  }
}

/** What the last decision was made on: the older entries read, and whether they were all of them. */
interface View {
  older: readonly Entry[];
  complete: boolean;
  /** What the rule will say once the watched entry is gone, if nothing else changed (see {@link foresee}). */
  foreseen?: { readonly gone: Entry; readonly decision: Decision };
}

/** Asks the rule, reading older pages as it needs them; `view` keeps what it decided on. */
function decideAt(ticket: Ticket, rule: Rule, first: Page, waiting: Waiting, view?: View): Promise<Decision> {
  return decide(
    rule,
    ticket.entry(),
    first,
    (max, limit) => patiently(() => ticket.read(rule, waiting.signal, max, limit), waiting),
    view && ((older, complete) => Object.assign(view, { older, complete })),
  );
}

/** Reads the queue again (confirming our key) and asks the rule. */
async function reread(ticket: Ticket, rule: Rule, waiting: Waiting, view?: View): Promise<Decision> {
  const page = await patiently(() => ticket.read(rule, waiting.signal), waiting);
  return decideAt(ticket, rule, page, waiting, view);
}

/**
 * Watches what each decision names until the rule grants our turn. Each watch is registered first,
 * then the queue read: a change before the registration shows in the read, one after it reaches
 * the watch. A watch lasts for one decision: when the rule names another key, it is replaced.
 */
async function waitForTurn(ticket: Ticket, rule: Rule, decision: Decision, waiting: Waiting): Promise<void> {
  while (decision.kind !== 'granted') {
    if (decision.kind === 'refuse') throw decision.error;
    if (decision.kind !== 'watch-key' && decision.kind !== 'watch-prefix') throw new Error(`the rule could not decide (${decision.kind})`);
    const w = watch(ticket.session.client, targetOf(ticket, decision), waiting.listen());
    try {
      await waiting.next();
      const view: View = { older: [], complete: false };
      const now = await reread(ticket, rule, waiting, view);
      if (!sameWatch(now, decision)) {
        decision = now;
        continue;
      }
      foresee(ticket, rule, view, decision);
      await waiting.next();
      decision = await afterChange(ticket, rule, view, waiting);
    } finally {
      w.cancel();
    }
  }
}

/**
 * The rule's decision once the watch saw a change, given the view the last read showed.
 *
 * Older entries only ever leave, and every rule grants more as they do: when the view was the
 * whole queue ahead of us, the deletions the watch saw may grant our turn without reading the
 * queue again; one point read of our own key (one key, whatever the queue's length) confirms it
 * is still ours. A writer's release so admits the readers behind it with a point read each, and
 * the readers of one process share one watch event and one call for those reads (see `watch` and
 * `readRange`). A deletion counts only for the entry it deleted: one after the entry's creation
 * (an earlier key of the same name may be deleted too, its event arriving after our read).
 */
async function afterChange(ticket: Ticket, rule: Rule, view: View, waiting: Waiting): Promise<Decision> {
  const deleted = waiting.deleted;
  if (view.complete && deleted !== undefined) {
    const gone = view.foreseen?.gone;
    const next =
      gone && deleted.size === 1 && (deleted.get(gone.key) ?? 0n) > gone.createRevision
        ? view.foreseen!.decision
        : rule.decide(ticket.entry(), withoutDeleted(view.older, deleted), true);
    if (next.kind === 'granted') {
      await patiently(() => ticket.confirm(), waiting);
      return next;
    }
  }
  return reread(ticket, rule, waiting);
}

/**
 * Works out, while we wait, what the rule will say once the one entry the decision watches is
 * deleted and nothing else changed: that is what a release usually brings. A writer's release
 * then admits each of the hundred readers behind it without any of them looking through the
 * queue ahead of it at that moment (a reader's rule looks through every older entry).
 */
function foresee(ticket: Ticket, rule: Rule, view: View, decision: Decision): void {
  if (!view.complete || decision.kind !== 'watch-key') return;
  const i = view.older.findIndex(e => e.key === decision.key);
  if (i < 0) return;
  view.foreseen = { gone: view.older[i]!, decision: rule.decide(ticket.entry(), view.older.toSpliced(i, 1), true) };
}

/**
 * The entries of `older` the deletions in `deleted` did not remove. A writer's release wakes each
 * reader behind it with one deletion: that one is looked up alone, so the hundred readers behind a
 * writer do not each look every older entry up in the map.
 */
function withoutDeleted(older: readonly Entry[], deleted: ReadonlyMap<string, bigint>): readonly Entry[] {
  const counts = (e: Entry, at: bigint | undefined): boolean => at !== undefined && at > e.createRevision;
  if (deleted.size !== 1) return older.filter(e => !counts(e, deleted.get(e.key)));
  const [key, at] = deleted.entries().next().value!;
  const i = older.findIndex(e => e.key === key);
  return i >= 0 && counts(older[i]!, at) ? older.toSpliced(i, 1) : older;
}

function targetOf(ticket: Ticket, decision: Extract<Decision, { kind: 'watch-key' | 'watch-prefix' }>): WatchTarget {
  const keys = ticket.keyspace;
  if (decision.kind === 'watch-key') return { key: keys.key(decision.key), events: decision.events };
  const range = keys.prefix(ticket.prefix);
  return { key: range.key, rangeEnd: range.range_end, events: decision.events };
}

function sameWatch(a: Decision, b: Decision): boolean {
  if (a.kind === 'watch-key' && b.kind === 'watch-key') return a.key === b.key && a.events === b.events;
  if (a.kind === 'watch-prefix' && b.kind === 'watch-prefix') return a.events === b.events;
  return false;
}

/**
 * Runs a read, retrying while etcd is unavailable for as long as the wait (which is given up when
 * our lease may be gone) goes on.
 */
async function patiently<T>(read: () => Promise<T>, waiting: Waiting): Promise<T> {
  let backoff: Backoff | undefined;
  for (;;) {
    if (waiting.aborted) throw waiting.reason;
    try {
      return await waiting.race(read());
    } catch (error) {
      if (!(error instanceof EtcdUnavailableError) || waiting.aborted) throw error;
      backoff ??= new Backoff(100, READ_RETRY_MAX_MS);
      await pause(backoff.next(), waiting.signal);
    }
  }
}

/**
 * The error a failed acquisition rejects with. A lease lost while we waited shows either as our
 * key's deletion or as the session's end, whichever is noticed first: both give the session's
 * reason ({@link LeaseLostError}), the deletion once a keepalive confirmed the lease is gone.
 */
async function lossReason(ticket: Ticket, reason: unknown): Promise<unknown> {
  if (!(reason instanceof OwnershipLostError) || reason.key !== ticket.key) return reason;
  if (reason.reason === 'session') return reason.cause ?? reason;
  if (reason.reason === 'deleted' && !(await ticket.session.leaseAlive())) return ticket.session.signal.reason;
  return reason;
}
