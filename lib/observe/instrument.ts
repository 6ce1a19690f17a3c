/**
 * @internal The calls the library makes at each step of a lock's or session's life. Each feeds
 * the metrics (no-ops without an OpenTelemetry SDK) and publishes on the diagnostics channels
 * (only while a channel has subscribers, so no message is built for nobody). A call costs a clock
 * read and a few property reads when nobody listens.
 */
import { LeaseLostError, LockTimeoutError, OwnershipLostError, SessionClosedError } from '../errors.js';
import type { Ticket } from '../queue/ticket.js';
import { channels, type HoldLossReason, type LockKind, type WaitFailure } from './channels.js';
import { instruments, leading, type Instruments } from './metrics.js';
import { settings } from './settings.js';

/** A wait in progress: tell it how it ended, once. */
export interface Wait {
  /** Records the outcome of `turn` (a ticket, `null` for a taken `tryLock()`, or a rejection) and passes it on. */
  track<T extends Ticket | null>(turn: Promise<T>): Promise<T>;
  /** The wait acquired: `ticket` is held from now on, until its signal aborts. */
  acquired(ticket: Ticket): void;
  /** The wait rejected with `error`. */
  failed(error: unknown): void;
  /** `tryLock()` found the lock taken. */
  busy(): void;
}

type Attributes = Record<string, string>;

const now = (): number => performance.now();

/** The wait of a lock nobody observes: no SDK, no subscriber when it started. */
const unobserved: Wait = {
  track: turn => turn,
  acquired: () => undefined,
  failed: () => undefined,
  busy: () => undefined,
};

/** Whether any channel of a lock's life has a subscriber. */
const lockChannelsObserved = (): boolean =>
  channels.waitStart.hasSubscribers ||
  channels.acquired.hasSubscribers ||
  channels.waitFailed.hasSubscribers ||
  channels.released.hasSubscribers ||
  channels.lost.hasSubscribers;

/**
 * Records the start of a `lock()`, `tryLock()` or `campaign()` by `leaseId` on `name`. A lock
 * that starts while nobody observes (no SDK, no subscriber) is not followed at all: a subscriber or
 * an SDK that comes later sees the locks that start after it. Elections are always followed (they
 * are few, and the leader gauge must be right whenever it is read).
 */
export function waitStarted(kind: LockKind, name: string, leaseId: string, signal?: AbortSignal): Wait {
  const m = instruments();
  if (m.noop && kind !== 'election' && !lockChannelsObserved()) return unobserved;
  const started = now();
  const attributes: Attributes = { 'lock.kind': kind };
  safely(() => {
    const family = settings.lockName(name);
    if (typeof family === 'string') attributes['lock.name'] = family;
  });
  if (kind === 'election' && !leading.has(name)) leading.set(name, 0);
  safely(() => m.waiting.add(1, attributes));
  if (channels.waitStart.hasSubscribers) channels.waitStart.publish({ kind, name, leaseId });
  let done = false;
  const end = (outcome: 'acquired' | WaitFailure): number => {
    done = true;
    const seconds = (now() - started) / 1000;
    m.waiting.add(-1, attributes);
    m.waitDuration.record(seconds, { ...attributes, 'lock.outcome': outcome });
    return seconds * 1000;
  };
  const failed = (outcome: WaitFailure, error: unknown): void => {
    if (done) return;
    const waitMs = end(outcome);
    if (outcome === 'timeout') m.timeouts.add(1, attributes);
    if (channels.waitFailed.hasSubscribers) channels.waitFailed.publish({ kind, name, leaseId, outcome, error, waitMs });
  };
  return {
    track(turn) {
      return turn.then(
        ticket => {
          safely(() => (ticket ? this.acquired(ticket) : this.busy()));
          return ticket;
        },
        (error: unknown) => {
          safely(() => this.failed(error));
          throw error;
        },
      );
    },
    acquired(ticket) {
      if (done) return;
      const waitMs = end('acquired');
      m.acquisitions.add(1, attributes);
      const { key, createRevision: fencingToken } = ticket;
      if (channels.acquired.hasSubscribers) channels.acquired.publish({ kind, name, key, leaseId, fencingToken, waitMs });
      holding(m, kind, attributes, ticket);
    },
    failed(error) {
      failed(outcomeOf(error, signal), error);
    },
    busy() {
      failed('busy', undefined);
    },
  };
}

/** Records a hold from now until `ticket`'s signal aborts: released (by us) or lost. */
function holding(m: Instruments, kind: LockKind, attributes: Attributes, ticket: Ticket): void {
  const started = now();
  const { name, key, createRevision: fencingToken, signal } = ticket;
  const leaseId = ticket.session.leaseId;
  m.held.add(1, attributes);
  if (kind === 'election') leader(name, true, ticket);
  const ended = (): void => {
    const heldMs = now() - started;
    const error = signal.reason as unknown;
    const released = error instanceof OwnershipLostError && error.reason === 'released';
    m.held.add(-1, attributes);
    m.holdDuration.record(heldMs / 1000, { ...attributes, 'lock.outcome': released ? 'released' : 'lost' });
    if (released) {
      if (channels.released.hasSubscribers) channels.released.publish({ kind, name, key, leaseId, fencingToken, heldMs });
    } else {
      const reason = holdLossReason(error);
      m.losses.add(1, { ...attributes, 'lock.loss.reason': reason });
      if (channels.lost.hasSubscribers) channels.lost.publish({ kind, name, key, leaseId, fencingToken, heldMs, reason, error });
    }
    if (kind === 'election') leader(name, false, ticket);
  };
  if (signal.aborted) safely(ended);
  else signal.addEventListener('abort', () => safely(ended), { once: true });
}

/** Records that this process started (`isLeader`) or stopped leading the election `name`. */
export function leader(name: string, isLeader: boolean, ticket: Ticket): void {
  leading.set(name, Math.max(0, (leading.get(name) ?? 0) + (isLeader ? 1 : -1)));
  instruments().leaderTransitions.add(1, { name, 'election.role': isLeader ? 'leader' : 'standby' });
  if (channels.leaderChanged.hasSubscribers) {
    const { key, createRevision: fencingToken } = ticket;
    channels.leaderChanged.publish({ name, isLeader, key, leaseId: ticket.session.leaseId, fencingToken });
  }
}

/** Records an answered keepalive: its round trip, and whether the session had turned overdue before it. */
export function keepalive(ms: number, overdue: boolean): void {
  safely(() => {
    const m = instruments();
    m.keepaliveDuration.record(ms / 1000);
    if (overdue) m.keepaliveOverdue.add(1);
  });
}

/** Records the end of a session: a loss when `reason` is a {@link LeaseLostError} (not a close). */
export function sessionEnded(leaseId: string, reason: Error): void {
  if (!(reason instanceof LeaseLostError)) return;
  safely(() => instruments().sessionLosses.add(1, { 'session.loss.reason': reason.reason }));
  if (channels.sessionLost.hasSubscribers) channels.sessionLost.publish({ leaseId, reason: reason.reason, error: reason });
}

/** Runs `fn`, ignoring what it throws: observing a lock must never change its outcome. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A metrics SDK or an exporter failed: the lock or its release goes on regardless.
  }
}

/** How a rejected wait ended: by its timeout, by the caller's signal, by a loss, or another error. */
function outcomeOf(error: unknown, signal: AbortSignal | undefined): WaitFailure {
  if (error instanceof LockTimeoutError) return 'timeout';
  if (signal?.aborted && error === signal.reason) return 'aborted';
  if (error instanceof OwnershipLostError || error instanceof LeaseLostError || error instanceof SessionClosedError) return 'lost';
  return 'error';
}

/** Why a hold was lost, from its signal's reason. */
function holdLossReason(error: unknown): HoldLossReason {
  const cause = error instanceof OwnershipLostError && error.reason === 'session' ? error.cause : error;
  if (cause instanceof LeaseLostError) return cause.reason === 'revoked' ? 'lease-revoked' : 'lease-expired';
  if (cause instanceof SessionClosedError) return 'session-closed';
  return 'deleted';
}
