import type { IKeyValue, IRangeResponse, Namespace } from 'etcd3';
import { EtcdUnavailableError, PermissionDeniedError } from '../errors.js';
import { Keyspace } from '../etcd/keyspace.js';
import { isEntryOf, prefixOf } from '../queue/layout.js';
import { callEtcd, type CallContext } from '../etcd/call.js';
import { isCompacted } from '../etcd/classify.js';
import { watch, type Watch, type WatchEvent } from '../etcd/watch.js';
import { pause } from '../util/abort.js';
import { Backoff } from '../util/backoff.js';

/** Keys read per page when looking for the leader among an election's keys. */
const PAGE = 16;
/** Delay before watching again after a watch failed, doubled on each failure up to the maximum. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5000;

/** The leader of an election, as stored in etcd. */
export interface LeaderInfo {
  /** The value the leader proclaimed (UTF-8). */
  readonly value: string;
  /** The leader's key, relative to the client's namespace: `<name>/<lease id in hex>[_<n>]`. */
  readonly key: string;
  /** The lease the leader's key is on, in hex (as `etcdctl` prints it); `'0'` for a key without a lease. */
  readonly leaseId: string;
  /** The create revision of the leader's key: strictly greater than every earlier leader's. */
  readonly fencingToken: bigint;
}

/** The leader at one revision of the store. */
interface LeaderState {
  readonly leader: LeaderInfo | undefined;
  readonly revision: bigint;
}

/**
 * Reads the leader of `name`: among the direct children of `name/` (keys of a longer name such as
 * `name/sub/…` belong to another election), the one with the smallest create revision.
 *
 * @param revision read the store as it was at this revision; default: now.
 */
export async function readLeader(
  client: Namespace,
  ctx: CallContext,
  name: string,
  revision?: bigint,
  signal?: AbortSignal,
): Promise<LeaderState> {
  const keys = new Keyspace(client);
  const prefix = prefixOf(name);
  let at = revision;
  let minCreate: bigint | undefined;
  for (;;) {
    const res = await callEtcd<IRangeResponse>(
      client,
      ctx,
      `read the leader of "${name}"`,
      {
        service: 'KV',
        method: 'range',
        request: {
          ...keys.prefix(prefix),
          sort_order: 'Ascend',
          sort_target: 'Create',
          limit: PAGE,
          ...(at === undefined ? {} : { revision: at.toString() }),
          ...(minCreate === undefined ? {} : { min_create_revision: minCreate.toString() }),
        },
      },
      signal,
    );
    // Later pages read the same revision as the first, so the answer is one consistent snapshot.
    at ??= BigInt(res.header.revision);
    for (const kv of res.kvs) {
      const key = keys.relative(kv.key);
      if (isEntryOf(prefix, key)) return { leader: leaderInfo(key, kv), revision: at };
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return { leader: undefined, revision: at };
    minCreate = BigInt(last.create_revision) + 1n;
  }
}

function leaderInfo(key: string, kv: IKeyValue): LeaderInfo {
  return {
    key,
    value: kv.value.toString(),
    leaseId: BigInt(kv.lease || '0').toString(16),
    fencingToken: BigInt(kv.create_revision),
  };
}

/** Whether two observations show the same leader with the same value (or both no leader). */
export function sameLeader(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.key === b.key && a.fencingToken === b.fencingToken && a.value === b.value;
}

/**
 * Yields the leader of `name` (or `undefined` when there is none) now and at every change: a new
 * leader, or a new value proclaimed by the same leader. Ends when `signal` aborts.
 *
 * One watch on the election's prefix, registered "now" (so etcd serves it at once, not from its
 * catch-up loop) before the first read. Every batch of events at one revision that touches the
 * leader's key, or any candidate key while there is no leader, is followed by a read of the leader
 * *at that revision*: intermediate leaders are seen in order, even when several changes arrive
 * together. Other keys (waiting candidates joining or leaving, keys of longer names) are ignored.
 *
 * When the watch reconnects, the current state is read again; when it dies (its revision was
 * compacted), a new one is opened after a short backoff and the state is read again. Leaders
 * that came and went while it was cut off are then skipped, never reordered: the leader's create
 * revision only grows, and an observation older than the last one yielded is dropped.
 *
 * @throws {PermissionDeniedError} etcd refused to let us read or watch the election.
 */
export async function* watchLeader(
  client: Namespace,
  ctx: CallContext,
  name: string,
  signal?: AbortSignal,
): AsyncGenerator<LeaderInfo | undefined, void, undefined> {
  const prefix = prefixOf(name);
  const keys = new Keyspace(client);
  /** The last state yielded; `null` before the first. */
  let last: LeaderInfo | undefined | null = null;
  const backoff = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  let retryDelay = 0;
  while (!signal?.aborted) {
    if (retryDelay > 0 && !(await pause(retryDelay, signal))) return;
    const feed = new PrefixFeed(client, prefix, signal);
    let applied = -1n;
    try {
      for (;;) {
        const item = await feed.next(signal);
        if (item === undefined) return;
        const states: LeaderState[] = [];
        if (item.kind === 'synced') {
          states.push(await readLeader(client, ctx, name, undefined, signal));
          retryDelay = 0;
          backoff.reset();
        } else if (item.kind === 'failed') {
          throw item.error;
        } else if (applied >= 0n) {
          for (const revision of revisionsToRead(item.events, keys, prefix, applied, last)) {
            states.push(await readAt(client, ctx, name, revision, signal));
          }
        }
        for (const state of states) {
          if (state.revision <= applied) continue;
          applied = state.revision;
          const leader = state.leader;
          if (last !== null && sameLeader(leader, last)) continue;
          // Leaders' create revisions only grow: an older leader after a newer one is stale.
          if (leader && last && leader.fencingToken < last.fencingToken) continue;
          last = leader;
          yield leader;
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof PermissionDeniedError) throw error;
      if (!(error instanceof EtcdUnavailableError) && !isCompacted(error)) throw error;
      retryDelay = backoff.next();
    } finally {
      feed.cancel();
    }
  }
}

/**
 * The revisions of a watch response after which the leader may have changed: those with an event
 * on the leader's key, or on any candidate key while there is no leader. Ascending.
 */
function revisionsToRead(
  events: readonly WatchEvent[],
  keys: Keyspace,
  prefix: string,
  applied: bigint,
  last: LeaderInfo | undefined | null,
): bigint[] {
  const revisions: bigint[] = [];
  for (const event of events) {
    const revision = BigInt(event.kv.mod_revision);
    if (revision <= applied || revisions[revisions.length - 1] === revision) continue;
    const key = keys.relative(event.kv.key);
    if (!isEntryOf(prefix, key)) continue;
    if (!last || key === last.key) revisions.push(revision);
  }
  return revisions;
}

/** Reads the leader at `revision`, or now if that revision was compacted in the meantime. */
async function readAt(client: Namespace, ctx: CallContext, name: string, revision: bigint, signal?: AbortSignal): Promise<LeaderState> {
  try {
    return await readLeader(client, ctx, name, revision, signal);
  } catch (error) {
    if (!isCompacted(error)) throw error;
    return readLeader(client, ctx, name, undefined, signal);
  }
}

type FeedItem =
  /** The watch is registered (again): what happens from here on reaches us; read the state. */
  | { kind: 'synced' }
  | { kind: 'events'; events: readonly WatchEvent[] }
  /** etcd refused the watch for good. */
  | { kind: 'failed'; error: Error };

/** A prefix watch turned into a queue of items, consumed one at a time. */
class PrefixFeed {
  private readonly watch: Watch;
  private readonly items: FeedItem[] = [];
  private wake: (() => void) | undefined;

  constructor(client: Namespace, prefix: string, signal: AbortSignal | undefined) {
    const range = new Keyspace(client).prefix(prefix);
    this.watch = watch(
      client,
      { key: range.key, rangeEnd: range.range_end, events: 'all' },
      {
        synced: () => this.push({ kind: 'synced' }),
        events: events => this.push({ kind: 'events', events }),
        failed: error => this.push({ kind: 'failed', error }),
      },
    );
    signal?.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  /** The next item, or undefined once `signal` aborts. */
  async next(signal?: AbortSignal): Promise<FeedItem | undefined> {
    for (;;) {
      if (signal?.aborted) return undefined;
      const item = this.items.shift();
      if (item) return item;
      await new Promise<void>(resolve => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  cancel(): void {
    this.watch.cancel();
  }

  private push(item: FeedItem): void {
    this.items.push(item);
    this.wake?.();
  }
}
