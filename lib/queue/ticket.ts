import { EtcdLeaseInvalidError, type IKeyValue, type IRangeRequest } from 'etcd3';
import { EtcdUnavailableError, LockTimeoutError, OwnershipLostError, PermissionDeniedError } from '../errors.js';
import { Keyspace, isEntryOf, keyOf, prefixOf } from './keys.js';
import { callEtcd } from '../etcd/call.js';
import type { LeaseBound, Session } from '../session/session.js';
import { abortable, withDeadline } from '../util/abort.js';
import { watchOwnKey, type OwnKeySubscription } from './own-key-watch.js';
import { watchDeletion } from '../etcd/watch.js';

/** Keys read per page when looking for our predecessor. */
const PAGE = 8;
/** How long a failed `lock()` waits for its key to be deleted before handing that to the background. */
const ABANDON_GRACE_MS = 1000;
/** Longest pause between reads of the queue while etcd is unavailable (each read has its own retries). */
const INSPECT_RETRY_MAX_MS = 1000;

/** Options for joining a queue. */
export interface JoinOptions {
  /** Aborts the wait; the join rejects with `signal.reason` after our key is deleted. */
  signal?: AbortSignal;
  /** Gives up after this many ms with a {@link LockTimeoutError}. Default: no limit. */
  timeout?: number;
  /** The value stored in our key (an election's proclaimed value). Default: empty. */
  value?: string | Buffer;
}

/** A key in a queue: the holder or one of the waiters. */
export interface QueueMember {
  readonly key: string;
  readonly createRevision: bigint;
}

/**
 * The one primitive under every lock and election: a key on the session's lease under the name's
 * prefix, whose turn comes when every key created before it is gone.
 *
 * Waiting watches only the immediate predecessor (the entry with the greatest smaller create
 * revision), so a release wakes exactly one waiter. Each watch starts "now" and is followed by a
 * fresh read, so no deletion is missed and none comes late from etcd's catch-up loop. Our own key is
 * watched for its whole life: its deletion aborts {@link QueueEntry.signal} at once.
 */
export class QueueEntry implements LeaseBound {
  /** Creates our key and waits for our turn; resolves when every earlier entry is gone. */
  static async join(session: Session, name: string, options: JoinOptions): Promise<QueueEntry> {
    return (await QueueEntry.enter(session, name, options, 'wait')) as QueueEntry;
  }

  /** Creates our key; if it is at the head of the queue at once, resolves with it, else deletes it and resolves `null`. */
  static async tryJoin(session: Session, name: string, options: JoinOptions): Promise<QueueEntry | null> {
    return QueueEntry.enter(session, name, options, 'try');
  }

  private static async enter(
    session: Session,
    name: string,
    options: JoinOptions,
    mode: 'wait' | 'try',
  ): Promise<QueueEntry | null> {
    options.signal?.throwIfAborted();
    session.throwIfEnded();
    const entry = new QueueEntry(session, name, options.value);
    const { timeout } = options;
    const scope = withDeadline([options.signal, entry.signal], timeout, () => new LockTimeoutError(name, timeout ?? 0));
    try {
      const predecessor = await abortable(entry.create(timeout), scope.signal);
      if (predecessor && mode === 'try') {
        await entry.release();
        return null;
      }
      await entry.waitForTurn(predecessor, scope.signal);
      return entry;
    } catch (error) {
      let reason: unknown = scope.signal.aborted ? scope.signal.reason : error;
      // The session ended while we waited: report its own reason (SessionClosedError, LeaseLostError).
      if (reason instanceof OwnershipLostError && reason.reason === 'session') reason = reason.cause;
      await Promise.race([entry.abandon(), new Promise(resolve => setTimeout(resolve, ABANDON_GRACE_MS).unref())]);
      throw reason;
    } finally {
      scope.dispose();
    }
  }

  /** The prefix shared by the queue's keys: the name and a slash. */
  readonly prefix: string;
  /** Our key, relative to the client's namespace. */
  readonly key: string;
  /** The create revision of our key: the fencing token. `0n` until the key exists. */
  createRevision = 0n;
  /** Aborts with an {@link OwnershipLostError} when our key is gone, released, or the session ended. */
  readonly signal: AbortSignal;

  private readonly keys: Keyspace;
  private readonly slot: number;
  private readonly lost = new AbortController();
  private readonly value: Buffer;
  private creation: Promise<QueueMember | undefined> | undefined;
  private ownWatch: OwnKeySubscription | undefined;
  private releasing: Promise<void> | undefined;

  private constructor(
    readonly session: Session,
    readonly name: string,
    value: string | Buffer | undefined,
  ) {
    this.prefix = prefixOf(name);
    this.slot = session.reserveSlot(this.prefix);
    this.key = keyOf(this.prefix, session.leaseId, this.slot);
    this.keys = new Keyspace(session.client);
    this.value = Buffer.from(value ?? '');
    this.signal = this.lost.signal;
    session.attach(this);
  }

  /** @internal Session callback: the lease is gone or the session closed. */
  sessionEnded(reason: Error): void {
    this.markLost('session', reason);
    // The lease (and with it our key) is gone or about to be: nothing left to delete.
    this.session.releaseSlot(this.prefix, this.slot);
  }

  /**
   * Deletes our key if it is still ours, stops watching, and aborts {@link signal} with reason
   * `'released'`. Idempotent: later calls return the first call's promise.
   */
  release(): Promise<void> {
    this.releasing ??= this.releaseOnce();
    return this.releasing;
  }

  /** Whether {@link release} was called. */
  get released(): boolean {
    return this.releasing !== undefined;
  }

  /**
   * Writes a new value into our key, only while it is still ours (same create revision).
   * @returns false if our key is gone.
   */
  async update(value: string | Buffer, signal?: AbortSignal): Promise<boolean> {
    const key = this.keys.key(this.key);
    const res = await callEtcd(
      this.session.ctx,
      `update ${this.key}`,
      options =>
        this.session.client.kv.txn(
          {
            compare: [{ key, target: 'Create', result: 'Equal', create_revision: this.createRevision.toString() }],
            success: [{ request_put: { key, value: Buffer.from(value), lease: this.session.lease } }],
          },
          options,
        ),
      signal,
    ).catch((error: unknown) => {
      throw this.leaseCheck(error);
    });
    if (!res.succeeded) this.markLost('deleted');
    return res.succeeded;
  }

  /** @param timeout the join's own timeout, if any: the creating call may retry for that long. */
  private create(timeout?: number): Promise<QueueMember | undefined> {
    const key = this.keys.key(this.key);
    const ctx = timeout !== undefined && timeout > this.session.ctx.callTimeout ? { ...this.session.ctx, callTimeout: timeout } : this.session.ctx;
    // Watch our key from "now", concurrently with creating it (or reuse the watch an earlier hold
    // of the same key left): a synced watch delivers its deletion at once, where one started at
    // our create revision would be served by etcd's 100 ms catch-up loop once the store moved on.
    const ownWatch = this.subscribeOwnKey();
    this.creation = callEtcd(ctx, `join the queue of "${this.name}"`, options =>
      this.session.client.kv.txn(
        {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [
            { request_put: { key, value: this.value, lease: this.session.lease } },
            { request_range: { ...this.page(), keys_only: true } },
          ],
          // Our key exists already: an earlier attempt of this call committed before its answer was lost.
          failure: [{ request_range: { key } }],
        },
        options,
      ),
    ).catch((error: unknown) => {
      throw this.leaseCheck(error);
    }).then(async res => {
      if (res.succeeded) {
        this.createRevision = BigInt(res.header.revision);
        void this.confirmWatched(ownWatch);
        const found = this.predecessorIn(res.responses[1]?.response_range.kvs ?? []);
        return found === 'unknown' ? this.inspect() : found;
      }
      const existing = res.responses[0]?.response_range.kvs[0];
      if (!existing || existing.lease !== this.session.lease) {
        throw new OwnershipLostError(this.name, this.key, 'deleted');
      }
      this.createRevision = BigInt(existing.create_revision);
      void this.confirmWatched(ownWatch);
      return this.inspect();
    });
    return this.creation;
  }

  /** A write on our lease refused because the lease is gone ends the session: its typed reason. */
  private leaseCheck(error: unknown): unknown {
    return error instanceof EtcdLeaseInvalidError ? this.session.leaseGone(error) : error;
  }

  /**
   * If etcd registered our own-key watch only after our key was created, a deletion in between
   * would not reach it: read once to make sure the key is still ours.
   */
  private async confirmWatched(watch: OwnKeySubscription): Promise<void> {
    try {
      const registeredAt = await watch.ready;
      if (registeredAt >= this.createRevision && !this.lost.signal.aborted) await this.inspect(this.signal);
    } catch {
      // inspect() marks a loss itself; a failed watch is renewed, and then asks for a recheck.
    }
  }

  /** The first page of entries created up to our revision, newest first. */
  private page(maxCreateRevision?: bigint): IRangeRequest {
    return {
      ...this.keys.prefix(this.prefix),
      sort_order: 'Descend',
      sort_target: 'Create',
      limit: PAGE,
      ...(maxCreateRevision === undefined ? {} : { max_create_revision: maxCreateRevision.toString() }),
    };
  }

  /** Our predecessor among entries sorted newest first, or 'unknown' if this page does not tell. */
  private predecessorIn(kvs: IKeyValue[]): QueueMember | undefined | 'unknown' {
    for (const kv of kvs) {
      const key = this.keys.relative(kv.key);
      const createRevision = BigInt(kv.create_revision);
      if (key !== this.key && createRevision < this.createRevision && isEntryOf(this.prefix, key)) {
        return { key, createRevision };
      }
    }
    return kvs.length < PAGE ? undefined : 'unknown';
  }

  /**
   * Reads etcd: confirms our key still exists with our revision, and finds our current predecessor
   * (undefined: we are at the head). Throws {@link OwnershipLostError} if our key is gone.
   */
  private async inspect(signal?: AbortSignal): Promise<QueueMember | undefined> {
    let max = this.createRevision;
    let first = true;
    for (;;) {
      const res = await callEtcd(
        this.session.ctx,
        `read the queue of "${this.name}"`,
        options => this.session.client.kv.range({ ...this.page(max), keys_only: true }, options),
        signal,
      );
      if (first && !res.kvs.some(kv => BigInt(kv.create_revision) === this.createRevision && this.keys.relative(kv.key) === this.key)) {
        this.markLost('deleted');
        throw this.signal.reason;
      }
      first = false;
      const found = this.predecessorIn(res.kvs);
      if (found !== 'unknown') return found;
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return undefined;
      max = BigInt(last.create_revision) - 1n;
    }
  }

  /** Waits until no entry older than ours is left, watching one predecessor at a time. */
  private async waitForTurn(predecessor: QueueMember | undefined, signal: AbortSignal): Promise<void> {
    while (predecessor) {
      const watch = watchDeletion(this.session.client, predecessor.key);
      try {
        await abortable(watch.ready, signal);
        // The watch is live: anything that happens from here on reaches us. Read once to see
        // whether it already happened.
        const current = await this.inspectPatiently(signal);
        if (current?.key === predecessor.key && current.createRevision === predecessor.createRevision) {
          await abortable(watch.news, signal);
          predecessor = await this.inspectPatiently(signal);
        } else {
          predecessor = current;
        }
      } finally {
        watch.cancel();
      }
    }
    if (this.signal.aborted) throw this.signal.reason;
  }

  /**
   * {@link inspect}, retrying while etcd is unavailable for as long as `signal` (which aborts when
   * our lease may be gone) lets it: a fault that etcd survives, such as a member down, a leader
   * election or a reset connection, must not cost a waiter its place in the queue.
   */
  private async inspectPatiently(signal: AbortSignal): Promise<QueueMember | undefined> {
    for (let failures = 0; ; failures++) {
      signal.throwIfAborted();
      try {
        return await abortable(this.inspect(signal), signal);
      } catch (error) {
        if (!(error instanceof EtcdUnavailableError) || signal.aborted) throw error;
        const pause = Math.min(INSPECT_RETRY_MAX_MS, 100 * 2 ** Math.min(failures, 4) * (0.5 + Math.random()));
        await abortable(new Promise(resolve => setTimeout(resolve, pause).unref()), signal);
      }
    }
  }

  /** Watches our own key for its whole life; its deletion means ownership is gone. */
  private subscribeOwnKey(): OwnKeySubscription {
    this.ownWatch = watchOwnKey(this.session, this.key, {
      deleted: revision => void this.ownKeyDeleted(revision),
      recheck: () => void this.recheckOwnKey(),
    });
    return this.ownWatch;
  }

  private async ownKeyDeleted(revision: bigint): Promise<void> {
    // News can come before the creating transaction's answer: act once we know our revision.
    if (this.createRevision === 0n) await this.creation?.catch(() => undefined);
    if (this.lost.signal.aborted || this.createRevision === 0n) return;
    // An older deletion is of an earlier key of the same name (an earlier hold, or seen late
    // through a member that lags the one that created ours): not ours.
    if (revision >= this.createRevision) this.markLost('deleted');
  }

  /** The watch was down and is live again: read once, as a deletion meanwhile went unseen. */
  private async recheckOwnKey(): Promise<void> {
    if (this.createRevision === 0n) await this.creation?.catch(() => undefined);
    if (this.lost.signal.aborted || this.createRevision === 0n) return;
    try {
      await this.inspectPatiently(this.signal);
    } catch {
      // inspect() marks the loss itself; other failures leave the watch in charge.
    }
  }

  private markLost(reason: 'deleted' | 'session' | 'released', cause?: unknown): void {
    if (this.lost.signal.aborted) return;
    this.ownWatch?.unsubscribe();
    this.session.detach(this);
    this.lost.abort(
      reason === 'released'
        ? new OwnershipLostError(this.name, this.key, 'released')
        : new OwnershipLostError(this.name, this.key, reason, { cause }),
    );
    if (reason === 'deleted') {
      // Our key vanished: maybe the lease went with it. Ask at once rather than at the next keepalive.
      this.session.probe();
    }
  }

  private async releaseOnce(): Promise<void> {
    this.markLost('released');
    if (this.session.ended) return;
    try {
      await this.deleteKey();
    } catch (error) {
      if (!(error instanceof PermissionDeniedError)) this.deleteInBackground();
      throw error;
    }
    this.session.releaseSlot(this.prefix, this.slot);
  }

  /** Deletes our key if it is still ours: by create revision when known, else by lease. */
  private async deleteKey(): Promise<void> {
    const key = this.keys.key(this.key);
    const guard =
      this.createRevision > 0n
        ? { key, target: 'Create' as const, result: 'Equal' as const, create_revision: this.createRevision.toString() }
        : { key, target: 'Lease' as const, result: 'Equal' as const, lease: this.session.lease };
    await callEtcd(this.session.ctx, `delete ${this.key}`, options =>
      this.session.client.kv.txn({ compare: [guard], success: [{ request_delete_range: { key } }] }, options),
    );
  }

  /** Keeps trying to delete our key until it is gone or the session ends (its lease then removes it). */
  private deleteInBackground(): void {
    const attempt = async (delay: number): Promise<void> => {
      await new Promise(resolve => setTimeout(resolve, delay).unref());
      if (this.session.ended) return;
      try {
        await this.deleteKey();
        this.session.releaseSlot(this.prefix, this.slot);
      } catch {
        await attempt(Math.min(delay * 2, 10_000));
      }
    };
    void attempt(500);
  }

  /** Cleans up after a failed join: waits for the creating call to settle, then deletes our key. */
  private async abandon(): Promise<void> {
    await this.creation?.catch(() => undefined);
    await this.release().catch(() => undefined);
  }
}
