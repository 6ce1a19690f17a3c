import type { IPolicy } from 'cockatiel';
import type { ILeaseGrantResponse, Namespace } from 'etcd3';
import { EtcdUnavailableError, LeaseLostError, SessionClosedError } from '../errors.js';
import { callEtcd, sharedDefaultPolicy, type CallContext } from '../etcd/call.js';
import { isLeaseGone } from '../etcd/classify.js';
import { abortable, scope as withScope } from '../util/abort.js';
import { validateClient, validateSignal, validateTimeout, validateTtl } from '../util/validate.js';
import { LeaseKeeper, keepAliveOnce, now } from './lease-keeper.js';
import { keepalive, sessionEnded } from '../observe/instrument.js';

/** Options of {@link Session.create}. */
export interface SessionOptions {
  /**
   * Lease TTL in seconds: how long etcd keeps our keys after this process stops renewing them,
   * which bounds failover time after a crash. A whole number ≥ 1. Default: `60` (as etcd's Go client).
   */
  ttl?: number;
  /** Time to wait for etcd to grant the lease, in ms. Default: `5000`. */
  timeout?: number;
  /** Aborts the creation; `create()` rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Deadline of each etcd call made for this session and its locks, retries included, in ms: an
   * unreachable cluster makes the call fail with an {@link EtcdUnavailableError} within it. A call
   * that gets no answer within its hedge delay (about four times the usual latency, 150 ms to 1 s)
   * also goes to another member, and a member that stopped answering is avoided until it answers
   * again, so a frozen member costs a call about one hedge delay, not its deadline. Default: `5000`.
   */
  callTimeout?: number;
  /**
   * cockatiel policy wrapped around each round of attempts of an etcd call, given the caller's
   * signal (the call's deadline ends the call from outside the policy). Default:
   * {@link defaultRetryPolicy} (transient errors only, exponential backoff with jitter from 25 ms to
   * 1 s, up to 20 rounds within `callTimeout`).
   */
  retryPolicy?: IPolicy;
}

/** Something that holds a key on the session's lease and must hear when the lease ends. */
export interface LeaseBound {
  /** Called once when the session ends (closed or lease lost), with the session's reason. */
  sessionEnded(reason: Error): void;
}

/**
 * A lease kept alive by one keepalive stream, shared by any number of locks and campaigns.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * session.signal.addEventListener('abort', () => console.error(session.signal.reason));
 * // ... locks and campaigns ...
 * await session.close(); // revokes the lease: every key on it is deleted at once
 * ```
 */
export class Session implements AsyncDisposable {
  /**
   * Grants a lease and starts keeping it alive.
   *
   * @param client an `Etcd3` client or an etcd3 `Namespace`; lock keys are written through it.
   * @throws {InvalidArgumentError} a bad option (e.g. `ttl: 0`).
   * @throws {EtcdUnavailableError} etcd did not grant the lease within `timeout`.
   * @throws {PermissionDeniedError} etcd refused the grant.
   */
  static async create(client: Namespace, options: SessionOptions = {}): Promise<Session> {
    validateClient(client);
    const ttl = validateTtl(options.ttl ?? 60);
    const timeout = validateTimeout('timeout', options.timeout) ?? 5000;
    const callTimeout = validateTimeout('callTimeout', options.callTimeout) ?? 5000;
    const signal = validateSignal(options.signal);
    const ctx: CallContext = { policy: options.retryPolicy ?? sharedDefaultPolicy, callTimeout };
    // The grant may take all of `timeout` (the caller's choice), not only callTimeout.
    const granting: CallContext = { ...ctx, callTimeout: Math.max(callTimeout, timeout) };
    const scope = withScope(signal, timeout, () => new EtcdUnavailableError(`grant a lease within ${timeout} ms`));
    const revoke = (id: string): void => {
      callEtcd(client, ctx, `revoke lease ${id}`, { service: 'Lease', method: 'leaseRevoke', request: { ID: id }, write: true, hedge: true }).catch(() => undefined);
    };
    try {
      scope.signal.throwIfAborted();
      let sentAt = now();
      // Given up at `timeout` even with an attempt in flight: a lease granted too late is revoked.
      // A grant sent to several members (one was slow) grants several leases: the extra ones are revoked.
      const res = await abortable(
        callEtcd<ILeaseGrantResponse>(
          client,
          granting,
          'grant a lease',
          { service: 'Lease', method: 'leaseGrant', request: { TTL: ttl, ID: 0 }, write: true, hedge: true, discard: extra => revoke(extra.ID) },
          scope.signal,
        ),
        scope.signal,
      );
      let granted = Number(res.TTL);
      if (now() - sentAt > (granted * 1000) / 3) {
        // The answer was slow (e.g. etcd was electing a leader): renew before trusting the lease.
        const renewed = await abortable(keepAliveOnce(client, res.ID, callTimeout), scope.signal).catch((error: unknown) => {
          revoke(res.ID);
          throw scope.signal.aborted ? scope.signal.reason : new EtcdUnavailableError('renew a new lease', { cause: error });
        });
        if (!(renewed.ttl > 0)) throw new LeaseLostError(BigInt(res.ID).toString(16), 'expired');
        sentAt = renewed.sentAt;
        granted = renewed.ttl;
      }
      return new Session(client, ctx, res.ID, granted, sentAt);
    } finally {
      scope.dispose();
    }
  }

  /**
   * The lease id as a hex string, unpadded: the form lock keys carry (`<name>/<leaseId>`, as Go's
   * `concurrency` package writes them). `etcdctl` accepts it, and prints it zero-padded to 16 digits.
   */
  readonly leaseId: string;
  /** The lease id as etcd3 takes it (a decimal string), e.g. for `client.put(k).lease(session.lease)`. */
  readonly lease: string;
  /**
   * Aborts when the lease can no longer be trusted or the session is closed. `reason` is a
   * {@link LeaseLostError} or a {@link SessionClosedError}. It aborts when a keepalive answer says
   * the lease is gone, when no keepalive was acknowledged in time, or on `close()`. The deadline is
   * conservative (the send time of the last acknowledged keepalive plus the TTL etcd granted), and
   * the signal aborts a tenth of the TTL (at most 1 s) before it: never later than etcd could have
   * expired the lease, with room for a timer that runs late.
   */
  readonly signal: AbortSignal;

  private readonly controller = new AbortController();
  private readonly keeper: LeaseKeeper;
  private readonly members = new Set<LeaseBound>();
  private readonly cleanups = new Set<Promise<void>>();
  private readonly slots = new Map<string, Set<number>>();
  private closing: Promise<void> | undefined;

  private constructor(
    /** The client the session was created with. */
    readonly client: Namespace,
    /** @internal */ readonly ctx: CallContext,
    leaseDecimal: string,
    grantedTtl: number,
    grantSentAt: number,
  ) {
    this.lease = leaseDecimal;
    this.leaseId = BigInt(leaseDecimal).toString(16);
    this.signal = this.controller.signal;
    this.keeper = new LeaseKeeper(client, leaseDecimal, grantedTtl, grantSentAt, (reason, cause) =>
      this.end(new LeaseLostError(this.leaseId, reason, { cause })),
      ms => keepalive(ms, this.keepAliveOverdue),
    );
  }

  /** The TTL (s) etcd granted in its last answer. */
  get ttl(): number {
    return this.keeper.grantedTtl;
  }

  /** Milliseconds until the conservative deadline; ≤ 0 once the lease may have expired. */
  get remainingMs(): number {
    return this.signal.aborted ? 0 : this.keeper.deadline - now();
  }

  /**
   * True while no keepalive has been acknowledged for longer than one keepalive interval and a half
   * (a third of the TTL, then half that again): the lease is at risk. Wire it into a health check.
   */
  get keepAliveOverdue(): boolean {
    return this.signal.aborted || now() - this.keeper.lastAckSentAt > this.keeper.interval() * 1.5;
  }

  /** True once the session was closed or its lease lost. */
  get ended(): boolean {
    return this.signal.aborted;
  }

  /**
   * Revokes the lease and stops the keepalive: every key on the lease (every lock and campaign of
   * this session) is deleted by etcd at once, and every handle's signal aborts. Idempotent. After it
   * resolves nothing of this session keeps Node's event loop alive (close the etcd3 client too).
   *
   * @throws {EtcdUnavailableError} the revoke did not reach etcd; the keys go when the TTL runs out.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async closeOnce(): Promise<void> {
    const wasLost = this.signal.aborted;
    this.end(new SessionClosedError(this.leaseId));
    // What the holds did as the session ended (a bounded hold revokes the lease its key is on).
    const cleanups = Promise.allSettled([...this.cleanups]);
    if (wasLost) return void (await cleanups);
    try {
      await callEtcd(this.client, this.ctx, `revoke lease ${this.leaseId}`, {
        service: 'Lease',
        method: 'leaseRevoke',
        request: { ID: this.lease },
        write: true,
        hedge: true,
      });
    } catch (error) {
      // Gone already, or the client was closed first: its lease expires by itself then.
      if (!isLeaseGone(error) && !isClientClosed(error)) throw error;
    } finally {
      await cleanups;
    }
  }

  /**
   * @internal Work a hold does when it ends that `close()` must wait for (a bounded hold's key is on
   * a lease of its own, which it revokes): `close()` resolves only once it has settled.
   */
  cleanup(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.cleanups.add(settled);
    void settled.then(() => this.cleanups.delete(settled));
  }

  private end(reason: Error): void {
    if (this.controller.signal.aborted) return;
    this.keeper.stop();
    this.controller.abort(reason);
    sessionEnded(this.leaseId, reason);
    for (const member of [...this.members]) member.sessionEnded(reason);
    this.members.clear();
  }

  /** @internal Throws the reason the session ended, if it has. */
  throwIfEnded(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** @internal Registers a key holder to be told when the session ends. */
  attach(member: LeaseBound): void {
    this.throwIfEnded();
    this.members.add(member);
  }

  /** @internal */
  detach(member: LeaseBound): void {
    this.members.delete(member);
  }

  /**
   * @internal etcd refused a write on our lease because the lease no longer exists (revoked from
   * outside, or expired while we could not tell): end the session now, as the next keepalive
   * would, and return the reason to reject with.
   */
  leaseGone(cause: unknown): Error {
    this.end(new LeaseLostError(this.leaseId, 'revoked', { cause }));
    return this.signal.reason as Error;
  }

  /** @internal Sends a keepalive now: something suggests the lease may be gone. */
  probe(): void {
    this.keeper.probe();
  }

  /**
   * @internal Asks etcd (one keepalive) whether the lease still exists. False once the session
   * ended; true when etcd renewed it or did not answer in time.
   */
  leaseAlive(): Promise<boolean> {
    return this.signal.aborted ? Promise.resolve(false) : this.keeper.check();
  }

  /**
   * @internal Reserves the lowest free slot for a key under `prefix`: slot 0 is the plain
   * `prefix + leaseId` key (etcd's own layout); more slots exist only where this session has several
   * waiters on one name at once.
   */
  reserveSlot(prefix: string): number {
    let used = this.slots.get(prefix);
    if (!used) this.slots.set(prefix, (used = new Set()));
    let slot = 0;
    while (used.has(slot)) slot++;
    used.add(slot);
    return slot;
  }

  /** @internal Frees a slot once its key is known to be gone from etcd. */
  releaseSlot(prefix: string, slot: number): void {
    const used = this.slots.get(prefix);
    used?.delete(slot);
    if (used?.size === 0) this.slots.delete(prefix);
  }

}

/** etcd3's error for a call on a closed client (its class may come from another copy of etcd3). */
function isClientClosed(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === 'ClientClosedError';
}
