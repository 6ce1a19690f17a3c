import type { IRangeRequest, IRangeResponse, ITxnResponse } from 'etcd3';
import { OwnershipLostError, PermissionDeniedError } from '../errors.js';
import { callEtcd, type CallContext } from '../etcd/call.js';
import { isLeaseGone } from '../etcd/classify.js';
import { checkKey, readRange } from '../etcd/read-batch.js';
import { keyspaceOf, type Keyspace } from '../etcd/keyspace.js';
import type { LeaseBound, Session } from '../session/session.js';
import { keyOf, prefixOf } from './layout.js';
import { OwnKeyGuard, type OwnKeyListener } from './own-key.js';
import { EMPTY_VALUE, pageOf, pageRequest, type Page } from './read.js';
import { sweepLater } from './sweep.js';
import type { Entry, Rule } from './rule.js';
import { int64 } from '../etcd/int64.js';

/**
 * How long after a creation of unknown outcome our key could still appear, ms: a request that
 * reached a raft leader that then froze can be committed by the next leader after our client gave
 * up on it (etcd's own request timeout is 5 s plus two election timeouts).
 */
const LATE_COMMIT_MS = 10_000;
/** First retry of a key's deletion that etcd could not take, ms. */
const DELETE_RETRY_MS = 500;

/** Why a ticket's key can no longer be trusted. */
export type LossReason = 'deleted' | 'session' | 'released';

/** What {@link Ticket.follow} tells of the ticket's end (an `AbortController` will do). */
export interface LossFollower {
  abort(reason: Error): void;
}

/** A ticket's lifecycle. */
export type TicketState =
  /** Our key is being created (or the outcome of its creation is not known yet). */
  | { readonly kind: 'creating' }
  /** Our key exists in etcd with this create revision. */
  | { readonly kind: 'live'; readonly createRevision: bigint }
  /** Our key was released by us (`released`), or deleted, or our session ended: {@link Ticket.signal} aborted. */
  | { readonly kind: 'ended'; readonly reason: LossReason; readonly createRevision: bigint | undefined };

/**
 * Our place in a queue: a key on the session's lease under the name's prefix. It knows how to
 * create itself (idempotently), read the entries ahead of it, write its value and delete itself
 * while it is still ours, and it aborts {@link signal} the moment it is not.
 *
 * What a ticket waits for is not its business: the turn loop (`turn.ts`) reads through it and
 * asks a rule.
 *
 * A ticket lives as long as its wait and its hold, and thousands may wait in one process, so it
 * keeps little: its {@link signal}'s controller is made only when the signal is first asked for
 * (a hold's handle asks; a waiting turn loop is told of the loss through {@link follow} instead).
 */
export class Ticket implements LeaseBound, OwnKeyListener {
  /** The prefix shared by the queue's keys: the name and a slash. */
  readonly prefix: string;
  /** Our key, relative to the client's namespace: `<name>/<lease id in hex>[_<slot>][<marker>]`. */
  readonly key: string;

  private stateNow: TicketState = { kind: 'creating' };
  /** Our client's namespace, for the raw requests. */
  readonly keyspace: Keyspace;
  /** Our key as stored (namespace included). */
  private readonly storedKey: Buffer;
  private readonly slot: number;
  /** The controller of {@link signal}, made when the signal is first asked for. */
  private lost: AbortController | undefined;
  /** Why the ticket ended, once it has: {@link signal}'s reason. */
  private lossReason: OwnershipLostError | undefined;
  /** Told when the ticket ends (a waiting turn, see {@link follow}). */
  private follower: LossFollower | undefined;
  private value: Buffer;
  /** Whether {@link create} was called: its write may have been applied even if it failed. */
  private createSent = false;
  /** The creation while it is in flight (it settles without a value). */
  private creation: Promise<void> | undefined;
  /** A write of our key went unanswered: etcd may still apply it later (see {@link LATE_COMMIT_MS}). */
  private lateWrites = false;
  private ownKey: OwnKeyGuard | undefined;
  private releasing: Promise<void> | undefined;

  constructor(
    readonly session: Session,
    readonly name: string,
    value: string | Buffer | undefined,
    /** A suffix of our key that tells our kind (a reader's `.read`); default none. */
    marker = '',
  ) {
    this.prefix = prefixOf(name);
    this.slot = session.reserveSlot(this.prefix);
    this.key = keyOf(this.prefix, session.leaseId, this.slot, marker);
    this.keyspace = keyspaceOf(session.client);
    this.storedKey = this.keyspace.key(this.key);
    this.value = value === undefined || value.length === 0 ? EMPTY_VALUE : Buffer.from(value);
    session.attach(this);
  }

  get state(): TicketState {
    return this.stateNow;
  }

  /** Aborts with an {@link OwnershipLostError} when our key is gone, released, or the session ended. */
  get signal(): AbortSignal {
    if (!this.lost) {
      this.lost = new AbortController();
      if (this.lossReason) this.lost.abort(this.lossReason);
    }
    return this.lost.signal;
  }

  /** Throws {@link signal}'s reason if the ticket ended. */
  throwIfEnded(): void {
    if (this.lossReason) throw this.lossReason;
  }

  /**
   * @internal Aborts `follower` with {@link signal}'s reason when the ticket ends (at once if it
   * has), until {@link unfollow}: one follower at a time (the turn loop waiting on this ticket).
   */
  follow(follower: LossFollower): void {
    if (this.lossReason) follower.abort(this.lossReason);
    else this.follower = follower;
  }

  /** @internal Stops telling `follower` (see {@link follow}). */
  unfollow(follower: LossFollower): void {
    if (this.follower === follower) this.follower = undefined;
  }

  /** The create revision of our key: the fencing token. Only once the key was created. */
  get createRevision(): bigint {
    const revision = this.stateNow.kind === 'creating' ? undefined : this.stateNow.createRevision;
    if (revision === undefined) throw new Error(`the key ${this.key} was never created`);
    return revision;
  }

  /** Ourselves as a queue entry. */
  entry(): Entry {
    return { key: this.key, createRevision: this.createRevision, value: this.value };
  }

  /** @internal Session callback: the lease is gone or the session closed. */
  sessionEnded(reason: Error): void {
    this.end('session', reason);
    // The lease (and with it our key) is gone or about to be: nothing left to delete.
    this.session.releaseSlot(this.prefix, this.slot);
  }

  /**
   * Creates our key and reads the first page of the queue in one transaction (one round trip).
   * Idempotent: an attempt whose answer was lost may have committed; then our key exists with our
   * lease, and this reads it. Watching our key for deletion is started by {@link guard}.
   *
   * @param timeout the caller's own timeout, if longer than a call's: the creation may retry for that long.
   */
  create(rule: Rule, timeout?: number): Promise<Page> {
    const key = this.storedKey;
    const ctx = timeout !== undefined && timeout > this.session.ctx.callTimeout ? { ...this.session.ctx, callTimeout: timeout } : this.session.ctx;
    const created = this.call<ITxnResponse>(ctx, `join the queue of "${this.name}"`, 'txn', {
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [
        { request_put: { key, value: this.value, lease: this.session.lease } },
        { request_range: pageRequest(this.keyspace, this.prefix, rule) },
      ],
      // Our key exists already: an earlier attempt of this call committed before its answer was lost.
      failure: [{ request_range: { key } }],
    }).then(async res => {
      if (res.succeeded) {
        this.live(BigInt(res.header.revision));
        return pageOf(this.keyspace, this.prefix, res.responses[1]!.response_range);
      }
      const existing = res.responses[0]?.response_range.kvs[0];
      if (!existing || existing.lease !== this.session.lease) {
        this.end('deleted');
        throw this.lossReason!;
      }
      this.live(BigInt(existing.create_revision));
      return this.read(rule);
    });
    this.createSent = true;
    const creation = created.then(settled, settled);
    this.creation = creation;
    // Kept only while in flight: a settled one would keep its page for as long as we wait.
    void creation.then(() => {
      if (this.creation === creation) this.creation = undefined;
    });
    return created;
  }

  /**
   * Reads the page of the queue that ends with our key, newest first (or, with `maxCreateRevision`,
   * the page of entries created up to it). Without `maxCreateRevision` it also confirms that our key
   * still exists: if it does not, {@link signal} aborts and this throws its reason.
   */
  async read(rule: Rule, signal?: AbortSignal, maxCreateRevision?: bigint, limit?: number): Promise<Page> {
    const max = maxCreateRevision ?? this.createRevision;
    const res = await this.call<IRangeResponse>(this.session.ctx, `read the queue of "${this.name}"`, 'range', pageRequest(this.keyspace, this.prefix, rule, max, limit), signal);
    const page = pageOf(this.keyspace, this.prefix, res);
    if (maxCreateRevision === undefined && !page.entries.some(e => e.key === this.key && e.createRevision === max)) {
      this.end('deleted');
      throw this.lossReason!;
    }
    return page;
  }

  /**
   * Checks that our key is still ours (one comparison of its create revision, shared with the other
   * small reads and checks of the moment: see `checkKey`); if it is not, {@link signal} aborts and
   * this throws its reason. Unlike a page of the queue, a check costs etcd the same whatever the
   * queue's length.
   */
  async confirm(): Promise<void> {
    if (await checkKey(this.session.client, this.session.ctx, `read ${this.key}`, this.storedKey, this.createRevision)) return;
    this.end('deleted');
    throw this.lossReason!;
  }

  /**
   * Writes a new value into our key, only while it is still ours (same create revision).
   * @returns false if our key is gone.
   */
  async update(value: string | Buffer, signal?: AbortSignal): Promise<boolean> {
    const key = this.storedKey;
    const next = Buffer.from(value);
    const compare = [{ key, target: 'Create', result: 'Equal', create_revision: int64(this.createRevision) }];
    const success = [{ request_put: { key, value: next, lease: this.session.lease } }];
    const res = await this.call<ITxnResponse>(this.session.ctx, `update ${this.key}`, 'txn', { compare, success }, signal);
    if (!res.succeeded) this.end('deleted');
    else this.value = next;
    return res.succeeded;
  }

  /**
   * Deletes our key if it is still ours, stops watching, and aborts {@link signal} with reason
   * `'released'`. Idempotent: later calls return the first call's promise. If etcd cannot be
   * reached, this rejects and the deletion goes on in the background until it succeeds or the
   * session ends (etcd then deletes the key with the lease).
   */
  release(): Promise<void> {
    this.releasing ??= this.releaseOnce();
    return this.releasing;
  }

  /** Whether {@link release} was called. */
  get released(): boolean {
    return this.releasing !== undefined;
  }

  /** Cleans up after a failed acquisition: waits for the creation to settle, then deletes our key. */
  async abandon(): Promise<void> {
    await this.creation;
    await this.release().catch(() => undefined);
  }

  /**
   * One KV call on our key. `hedge`: whether copies may be in flight at once (a read, or a delete
   * guarded by our create revision); never for a create-if-absent, an update or a delete guarded by
   * the lease alone, whose late copy could act after our next step.
   */
  private async call<T>(ctx: CallContext, operation: string, method: 'txn' | 'range', request: unknown, signal?: AbortSignal, hedge = method === 'range'): Promise<T> {
    const write = method === 'txn';
    const uncertain = write ? () => void (this.lateWrites = true) : undefined;
    try {
      // A read may share its call with other tickets' reads (see readRange): hedged like any read.
      if (method === 'range' && hedge) return (await readRange(this.session.client, ctx, operation, request as IRangeRequest, signal)) as T;
      return await callEtcd<T>(this.session.client, ctx, operation, { service: 'KV', method, request, write, hedge, uncertain }, signal);
    } catch (error) {
      // A write on our lease refused because the lease is gone ends the session: its typed reason.
      throw isLeaseGone(error) ? this.session.leaseGone(error) : error;
    }
  }

  private live(createRevision: bigint): void {
    if (this.stateNow.kind !== 'creating') return;
    this.stateNow = { kind: 'live', createRevision };
  }

  /**
   * Starts watching our key for deletion: at once (a waiter), or `delayMs` from now if the ticket
   * is still live then (a hold granted at once: the shortest holds, as in "lock order-<id>" code,
   * then cost no watch at all). See {@link OwnKeyGuard}.
   */
  guard(delayMs = 0): void {
    if (this.ownKey || this.stateNow.kind !== 'live') return;
    this.ownKey = new OwnKeyGuard(this.session.client, this.storedKey, this.stateNow.createRevision, this);
    this.ownKey.start(delayMs);
  }

  /** @internal The guard saw our key deleted. */
  ownKeyDeleted(): void {
    this.end('deleted');
  }

  /**
   * @internal Reads our key once (retrying while etcd is unavailable, until the ticket or the
   * session ends) to see that it is still ours: a read that finds it gone ends the ticket. It asks
   * for no {@link signal} of its own: after a watch stream is replaced, every ticket on it asks this.
   */
  confirmOwnKey(): void {
    sweepLater(
      0,
      async () => {
        if (this.lossReason) return;
        try {
          await this.confirm();
        } catch (error) {
          if (!(error instanceof OwnershipLostError || error instanceof PermissionDeniedError)) throw error;
        }
      },
      this.session.signal,
    );
  }

  private end(reason: LossReason, cause?: unknown): void {
    if (this.lossReason) return;
    const createRevision = this.stateNow.kind === 'creating' ? undefined : this.stateNow.createRevision;
    this.stateNow = { kind: 'ended', reason, createRevision };
    this.ownKey?.cancel();
    this.ownKey = undefined;
    this.session.detach(this);
    this.lossReason = reason === 'released' ? this.releasedReason() : new OwnershipLostError(this.name, this.key, reason, { cause });
    this.lost?.abort(this.lossReason);
    const follower = this.follower;
    this.follower = undefined;
    follower?.abort(this.lossReason);
    // Our key vanished: maybe the lease went with it. Ask at once rather than at the next keepalive.
    if (reason === 'deleted') this.session.probe();
  }

  /**
   * The reason of a release: not a failure, so without a stack. Capturing one (V8 walks the async
   * stack of the awaiting callers) cost about 28 µs of CPU per release, 1 % of an uncontended cycle.
   */
  private releasedReason(): OwnershipLostError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new OwnershipLostError(this.name, this.key, 'released');
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  private async releaseOnce(): Promise<void> {
    const wasCreated = this.stateNow.kind !== 'creating' || this.createSent;
    this.end('released');
    if (this.session.ended) return;
    if (!wasCreated) return this.session.releaseSlot(this.prefix, this.slot);
    try {
      await this.deleteKey();
    } catch (error) {
      if (!(error instanceof PermissionDeniedError)) this.deleteInBackground(DELETE_RETRY_MS);
      throw error;
    }
    // A creation that may still be applied keeps the slot (so no later key takes this name), and is
    // swept once more after it can no longer appear.
    if (this.lateWrites) this.deleteInBackground(LATE_COMMIT_MS);
    else this.session.releaseSlot(this.prefix, this.slot);
  }

  /** Deletes our key if it is still ours: by create revision when known, else by lease. */
  private async deleteKey(): Promise<void> {
    const key = this.storedKey;
    const state = this.stateNow;
    const known = state.kind === 'ended' ? state.createRevision : undefined;
    const guard =
      known !== undefined
        ? { key, target: 'Create' as const, result: 'Equal' as const, create_revision: int64(known) }
        : { key, target: 'Lease' as const, result: 'Equal' as const, lease: this.session.lease };
    await this.call(this.session.ctx, `delete ${this.key}`, 'txn', { compare: [guard], success: [{ request_delete_range: { key } }] }, undefined, known !== undefined);
  }

  /** Keeps trying to delete our key until it is gone or the session ends (its lease then removes it). */
  private deleteInBackground(firstDelay: number): void {
    sweepLater(
      firstDelay,
      async () => {
        await this.deleteKey();
        this.session.releaseSlot(this.prefix, this.slot);
      },
      this.session.signal,
    );
  }
}

/** A creation's outcome, once settled, as nothing (the turn loop has it already). */
function settled(): void {}
