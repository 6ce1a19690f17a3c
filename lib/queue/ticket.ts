import type { IRangeResponse, ITxnResponse } from 'etcd3';
import type { CallContext } from '../etcd/call.js';
import { checkKey } from '../etcd/read-batch.js';
import { keyspaceOf, type Keyspace } from '../etcd/keyspace.js';
import type { LeaseBound, Session } from '../session/session.js';
import { keyCall } from './key-call.js';
import { keyOf, prefixOf } from './layout.js';
import { Loss, type LossFollower, type LossReason } from './loss.js';
import { OwnKeyGuard, type OwnKeyListener } from './own-key.js';
import { EMPTY_VALUE, pageOf, pageRequest, type Page } from './read.js';
import { deleteReleased } from './release.js';
import type { Entry, Rule } from './rule.js';
import { int64 } from '../etcd/int64.js';

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
  /** @internal Our key as stored (namespace included). */
  readonly storedKey: Buffer;
  /** @internal Our key's slot under the prefix on the session. */
  readonly slot: number;
  private value: Buffer;
  /** Whether {@link create} was called: its write may have been applied even if it failed. */
  private createSent = false;
  /** The creation while it is in flight (it settles without a value). */
  private creation: Promise<void> | undefined;
  /** @internal A write of our key went unanswered: etcd may still apply it later (see `deleteReleased`). */
  lateWrites = false;
  private ownKey: OwnKeyGuard | undefined;
  private releasing: Promise<void> | undefined;
  /** Tells of our end: {@link signal}, and the waiting turn that follows us. */
  private readonly loss: Loss;

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
    this.loss = new Loss(name, this.key);
    session.attach(this);
  }

  get state(): TicketState {
    return this.stateNow;
  }

  /** Aborts with an {@link OwnershipLostError} when our key is gone, released, or the session ended. */
  get signal(): AbortSignal {
    return this.loss.signal;
  }

  /** Throws {@link signal}'s reason if the ticket ended. */
  throwIfEnded(): void {
    this.loss.throwIfEnded();
  }

  /**
   * @internal Aborts `follower` with {@link signal}'s reason when the ticket ends (at once if it
   * has), until {@link unfollow}: one follower at a time (the turn loop waiting on this ticket).
   */
  follow(follower: LossFollower): void {
    this.loss.follow(follower);
  }

  /** @internal Stops telling `follower` (see {@link follow}). */
  unfollow(follower: LossFollower): void {
    this.loss.unfollow(follower);
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
        throw this.loss.reason!;
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
      throw this.loss.reason!;
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
    throw this.loss.reason!;
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

  /** One KV call on our key (see {@link keyCall}); a write that goes unanswered marks {@link lateWrites}. */
  private call<T>(ctx: CallContext, operation: string, method: 'txn' | 'range', request: unknown, signal?: AbortSignal): Promise<T> {
    return keyCall<T>(this.session, ctx, operation, method, request, { signal, uncertain: () => void (this.lateWrites = true) });
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

  /** @internal Aborts when the session ends (see {@link OwnKeyListener}). */
  get until(): AbortSignal {
    return this.session.signal;
  }

  /** Whether the ticket ended. */
  get ended(): boolean {
    return this.stateNow.kind === 'ended';
  }

  private end(reason: LossReason, cause?: unknown): void {
    if (this.ended) return;
    const createRevision = this.stateNow.kind === 'creating' ? undefined : this.stateNow.createRevision;
    this.stateNow = { kind: 'ended', reason, createRevision };
    this.ownKey?.cancel();
    this.ownKey = undefined;
    this.session.detach(this);
    this.loss.end(reason, cause);
    // Our key vanished: maybe the lease went with it. Ask at once rather than at the next keepalive.
    if (reason === 'deleted') this.session.probe();
  }

  private async releaseOnce(): Promise<void> {
    const wasCreated = this.stateNow.kind !== 'creating' || this.createSent;
    this.end('released');
    if (this.session.ended) return;
    if (!wasCreated) return this.session.releaseSlot(this.prefix, this.slot);
    await deleteReleased(this);
  }

  /** @internal Our key's create revision once ended, when known: what its deletion is guarded by. */
  get knownRevision(): bigint | undefined {
    return this.stateNow.kind === 'ended' ? this.stateNow.createRevision : undefined;
  }
}

/** A creation's outcome, once settled, as nothing (the turn loop has it already). */
function settled(): void {}
