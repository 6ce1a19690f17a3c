import type { ILeaseGrantResponse, ITxnResponse } from 'etcd3';
import { HoldExpiredError, InvalidArgumentError, LeaseLostError, OwnershipLostError, type LeaseLossReason } from '../errors.js';
import { callEtcd } from '../etcd/call.js';
import { LeaseKeeper, keepAliveOnce, now } from '../session/lease-keeper.js';
import type { Ticket } from './ticket.js';
import { int64 } from '../etcd/int64.js';

/** Checks a `maxHold` or an `extend()` duration: a whole number of ms from 1 to 2^31 - 1. */
export function validateHoldMs(argument: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) {
    throw new InvalidArgumentError(argument, `${argument} must be a whole number of milliseconds from 1 to ${2 ** 31 - 1}. Got: ${String(ms)}`);
  }
  return ms;
}

/** How long before the end the signal aborts: a tenth of the hold, at most 1 s. */
const marginOf = (ms: number): number => Math.min(1000, ms / 10);

/**
 * A hold that ends at grant + `maxHold` (plus any {@link extend}) even if its process is alive.
 *
 * On grant, our key moves to a lease of its own in one transaction guarded by its create revision
 * (a put keeps the create revision, so the fencing token and the queue position stay). That lease's
 * TTL is the session's, or `maxHold` rounded up to seconds if shorter, and is renewed like the
 * session's until `end - TTL`, when a last keepalive is sent and renewal stops: etcd then deletes
 * the key at `end` by itself, and a process that is stuck (event loop blocked, SIGSTOP) stops
 * renewing earlier, so its key goes within one TTL of its last keepalive, and never after `end`
 * plus etcd's expiry lag (etcd checks leases every 500 ms; a raft leader change restarts every
 * lease's countdown, so this is the one case where the server alone runs over).
 *
 * The local deadline does not rely on the server: {@link signal} aborts with a
 * {@link HoldExpiredError} a tenth of the hold (at most 1 s) before the end, and at the end the key
 * is deleted by us. If the key goes earlier (deleted, lease lost, session ended), the signal aborts
 * with the ticket's {@link OwnershipLostError}.
 */
export class BoundedHold {
  /** Aborts at the end (minus the margin) with a {@link HoldExpiredError}, or when the key is lost. */
  readonly signal: AbortSignal;

  private readonly controller = new AbortController();
  private end: number;
  private allowed: number;
  private keeper: LeaseKeeper | undefined;
  private lastAckSentAt: number;
  private timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly ticket: Ticket,
    /** The hold's own lease (decimal), and the TTL (s) etcd granted it. */
    private readonly lease: string,
    private readonly ttl: number,
    leaseSentAt: number,
    grantedAt: number,
    maxHold: number,
  ) {
    this.signal = this.controller.signal;
    this.end = grantedAt + maxHold;
    this.allowed = maxHold;
    this.lastAckSentAt = leaseSentAt;
    ticket.signal.addEventListener('abort', () => this.stop(ticket.signal.reason), { once: true });
    this.plan();
  }

  /**
   * Bounds the hold of `ticket`, granted at monotonic time `grantedAt`: grants the hold's lease and
   * moves the key onto it. Rejects (the lease revoked) if the key is no longer ours.
   */
  static async start(ticket: Ticket, maxHold: number, grantedAt: number): Promise<BoundedHold> {
    const { client, ctx } = ticket.session;
    const ttl = Math.max(1, Math.min(ticket.session.ttl, Math.ceil(maxHold / 1000)));
    const sentAt = now();
    const granted = await callEtcd<ILeaseGrantResponse>(client, ctx, `grant a lease for the hold of ${ticket.key}`, {
      service: 'Lease',
      method: 'leaseGrant',
      request: { TTL: ttl, ID: 0 },
      write: true,
      discard: extra => revoke(ticket, extra.ID),
    });
    const key = ticket.keyspace.key(ticket.key);
    try {
      const moved = await callEtcd<ITxnResponse>(client, ctx, `bound the hold of ${ticket.key}`, {
        service: 'KV',
        method: 'txn',
        request: {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: int64(ticket.createRevision) }],
          success: [{ request_put: { key, value: ticket.entry().value, lease: granted.ID } }],
        },
        write: true,
      });
      if (!moved.succeeded) throw new OwnershipLostError(ticket.name, ticket.key, 'deleted');
    } catch (error) {
      revoke(ticket, granted.ID);
      throw error;
    }
    return new BoundedHold(ticket, granted.ID, Number(granted.TTL), sentAt, grantedAt, maxHold);
  }

  /** Monotonic ms when the hold ends. */
  get endsAt(): number {
    return this.end;
  }

  /**
   * Pushes the end out by `ms`.
   * @throws the signal's reason ({@link HoldExpiredError} or {@link OwnershipLostError}) if the hold already ended.
   */
  async extend(ms: number): Promise<void> {
    validateHoldMs('ms', ms);
    this.signal.throwIfAborted();
    this.end += ms;
    this.allowed += ms;
    if (!this.keeper && this.end - this.ttl * 1000 > now()) {
      // Renewal had stopped: the lease runs out at the old end unless renewed now.
      const renewed = await keepAliveOnce(this.ticket.session.client, this.lease, this.ticket.session.ctx.callTimeout);
      if (!(renewed.ttl > 0)) this.leaseLost('revoked', undefined);
      this.signal.throwIfAborted();
      this.lastAckSentAt = renewed.sentAt;
    }
    this.plan();
  }

  /** Schedules the signal, the end, and the renewal up to `end - TTL`. */
  private plan(): void {
    if (this.signal.aborted) return;
    this.clearTimers();
    const t = now();
    const lastRenewal = this.end - this.ttl * 1000;
    if (lastRenewal > t) {
      this.keeper ??= new LeaseKeeper(this.ticket.session.client, this.lease, this.ttl, this.lastAckSentAt, (reason, cause) => this.leaseLost(reason, cause));
      this.at(lastRenewal, () => void this.lastKeepAlive());
    }
    this.at(this.end - marginOf(this.allowed), () => this.controller.abort(new HoldExpiredError(this.ticket.name, this.ticket.key, this.allowed)));
    this.at(this.end, () => {
      this.controller.abort(new HoldExpiredError(this.ticket.name, this.ticket.key, this.allowed));
      this.ticket.release().catch(() => undefined);
    });
  }

  /** Stops renewing and sends one last keepalive: etcd then expires the lease (and key) at the end. */
  private async lastKeepAlive(): Promise<void> {
    this.stopKeeper();
    try {
      const last = await keepAliveOnce(this.ticket.session.client, this.lease, this.ticket.session.ctx.callTimeout);
      if (last.ttl > 0) this.lastAckSentAt = last.sentAt;
      else this.leaseLost('revoked', undefined);
    } catch {
      // Not renewed: the lease (and key) may go before the end; the ticket's watch tells.
    }
  }

  /** The hold's lease is gone (or may be): so is our key. */
  private leaseLost(reason: LeaseLossReason, cause: unknown): void {
    const lost = new LeaseLostError(BigInt(this.lease).toString(16), reason, { cause });
    this.stop(new OwnershipLostError(this.ticket.name, this.ticket.key, 'session', { cause: lost }));
  }

  private at(when: number, fn: () => void): void {
    const timer = setTimeout(fn, Math.max(0, when - now()));
    timer.unref();
    this.timers.push(timer);
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }

  private stopKeeper(): void {
    if (!this.keeper) return;
    this.lastAckSentAt = Math.max(this.lastAckSentAt, this.keeper.lastAckSentAt);
    this.keeper.stop();
    this.keeper = undefined;
  }

  /** The key was released or lost: stop everything and revoke the hold's lease (deleting the key if still there). */
  private stop(reason: unknown): void {
    this.controller.abort(reason);
    this.clearTimers();
    this.stopKeeper();
    revoke(this.ticket, this.lease);
  }
}

function revoke(ticket: Ticket, lease: string): void {
  const { client, ctx } = ticket.session;
  const request = { service: 'Lease', method: 'leaseRevoke', request: { ID: lease }, write: true, hedge: true } as const;
  // session.close() waits for it: the key is on this lease, not the session's.
  ticket.session.cleanup(callEtcd(client, ctx, `revoke lease ${BigInt(lease).toString(16)}`, request));
}
