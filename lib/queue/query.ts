import type { ILeaseTimeToLiveResponse, IRangeResponse, Namespace } from 'etcd3';
import { defaultRetryPolicy, callEtcd, type CallContext } from '../etcd/call.js';
import { Keyspace } from '../etcd/keyspace.js';
import { scope } from '../util/abort.js';
import { EtcdUnavailableError } from '../errors.js';
import { validateClient, validateName, validateSignal, validateTimeout } from '../util/validate.js';
import { entriesOf } from './read.js';
import { prefixOf } from './layout.js';
import { holders } from './rules/any.js';

/** One key of a lock's or election's queue, as {@link queryLock} reports it. */
export interface QueueMember {
  /** The key, relative to the client's namespace: `<name>/<lease id in hex>[_<slot>]`. */
  readonly key: string;
  /** The key's lease in hex, as `etcdctl` prints it (unpadded); `'0'` for a key without a lease. */
  readonly leaseId: string;
  /** Seconds the lease has left (etcd's `LeaseTimeToLive`); `null` without a lease, `-1` once expired. */
  readonly ttl: number | null;
  /** The key's create revision: its place in the queue, and its holder's fencing token. */
  readonly fencingToken: bigint;
  /** The key's value (an election candidate's proclaimed value; empty for a lock), as UTF-8. */
  readonly value: string;
}

/** Who holds a lock or leads an election, and who waits, at one revision of the store. */
export interface QueueStatus {
  /** The name asked about. */
  readonly name: string;
  /**
   * The holders, oldest first: for a lock or an election the holder or leader alone; for a
   * read-write lock the writer, or the readers ahead of every writer; for a semaphore as many
   * entries, in order, as fit in its permits. Each entry is judged by its own kind, told from its
   * key (`.read`) and value (`{"permits","weight"}`).
   */
  readonly held: readonly QueueMember[];
  /** The waiters in the order they will be served. */
  readonly pending: readonly QueueMember[];
  /** The store revision the queue was read at. */
  readonly revision: bigint;
}

/** Options of {@link queryLock}. */
export interface QueryOptions {
  /** Deadline of the whole read, ms. Default: `5000`. */
  timeout?: number;
  /** Aborts the read; rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Reads who holds `name` and who waits for it, in queue order, shaped like the Web Locks API's
 * `navigator.locks.query()` (`held`, `pending`). Works on any lock or election name, also one used
 * by `etcdctl lock` or `etcdctl elect`. One consistent read of the queue plus one `LeaseTimeToLive`
 * per lease; it needs no session.
 *
 * @param client an `Etcd3` client or `Namespace` (the same namespace the lock is used in).
 * @throws {InvalidArgumentError} a bad name or option.
 * @throws {EtcdUnavailableError} etcd did not answer within `timeout`.
 * @throws {PermissionDeniedError} etcd refused the read.
 *
 * @example
 * ```ts
 * const { held, pending } = await queryLock(client, 'jobs/nightly');
 * console.log(held[0]?.key ?? 'free', `${pending.length} waiting`);
 * ```
 */
export async function queryLock(client: Namespace, name: string, options: QueryOptions = {}): Promise<QueueStatus> {
  validateClient(client);
  validateName(name);
  const timeout = validateTimeout('timeout', options.timeout) ?? 5000;
  const signal = validateSignal(options.signal);
  const ctx: CallContext = { policy: defaultRetryPolicy(), callTimeout: timeout };
  const reading = scope(signal, timeout, () => new EtcdUnavailableError(`read "${name}" within ${timeout} ms`));
  try {
    const prefix = prefixOf(name);
    const keys = new Keyspace(client);
    const res = await callEtcd<IRangeResponse>(
      client,
      ctx,
      `read the queue of "${name}"`,
      { service: 'KV', method: 'range', request: { ...keys.prefix(prefix), sort_order: 'Ascend', sort_target: 'Create' } },
      reading.signal,
    );
    const leaseOf = new Map(res.kvs.map(kv => [keys.relative(kv.key), kv.lease]));
    const leases = [...new Set(leaseOf.values())].filter(lease => lease !== '0');
    const ttls = new Map(
      await Promise.all(
        leases.map(async lease => {
          const ttl = await callEtcd<ILeaseTimeToLiveResponse>(
            client,
            ctx,
            `read the TTL of lease ${BigInt(lease).toString(16)}`,
            { service: 'Lease', method: 'leaseTimeToLive', request: { ID: lease, keys: false } },
            reading.signal,
          );
          return [lease, Number(ttl.TTL)] as const;
        }),
      ),
    );
    const entries = entriesOf(keys, prefix, res.kvs);
    const holding = holders(name, entries);
    const members = entries.map((entry): QueueMember => {
      const lease = leaseOf.get(entry.key) ?? '0';
      return {
        key: entry.key,
        leaseId: BigInt(lease).toString(16),
        ttl: lease === '0' ? null : (ttls.get(lease) ?? -1),
        fencingToken: entry.createRevision,
        value: entry.value.toString(),
      };
    });
    return {
      name,
      held: members.filter((_, i) => holding.has(entries[i]!)),
      pending: members.filter((_, i) => !holding.has(entries[i]!)),
      revision: BigInt(res.header.revision),
    };
  } finally {
    reading.dispose();
  }
}
