import type { ILeaseTimeToLiveResponse, IRangeResponse, Namespace } from 'etcd3';
import { callEtcd, sharedDefaultPolicy, type CallContext } from '../etcd/call.js';
import { Keyspace } from '../etcd/keyspace.js';
import { scope } from '../util/abort.js';
import { EtcdUnavailableError, InvalidArgumentError } from '../errors.js';
import { validateClient, validateName, validateSignal, validateTimeout } from '../util/validate.js';
import { entriesOf } from './read.js';
import { prefixOf } from './layout.js';
import { isReaderKey } from './layout.js';
import type { Entry, Rule } from './rule.js';
import { ruleOf } from './rules/any.js';
import { parsePermitValue } from './rules/semaphore.js';

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
  /** A read-write lock's entry: whether it reads or writes. Absent for other kinds. */
  readonly mode?: 'read' | 'write';
  /** A semaphore's entry: how many permits it takes. Absent for other kinds. */
  readonly weight?: number;
}

/**
 * The kinds of queue {@link queryLock} can read. They share one layout and differ in who holds:
 * for `mutex` and `election` only the oldest key; for `rwlock` the oldest writer, or the readers
 * ahead of the first writer; for `semaphore` the oldest entries whose permits fit.
 */
export type QueueKind = 'mutex' | 'election' | 'rwlock' | 'semaphore';

/** How a kind of queue is read: who holds, and what an entry says about itself. */
interface KindReader {
  /** The admission rule of `entry` (a read-write lock's reader and writer follow different rules). */
  ruleFor(name: string, entry: Entry): Rule;
  /** The kind's own fields of an entry (a read-write lock's `mode`, a semaphore's `weight`). */
  describe?(entry: Entry): Pick<QueueMember, 'mode' | 'weight'>;
}

/** One reader per kind: a new lock kind adds its entry here, with its rules. */
const kinds: Record<QueueKind, KindReader> = {
  // Every kind judges each entry by the rule its key and value say it follows (a plain key is
  // exclusive): a Mutex and an RWMutex writer, or etcdctl's lock, on the same name read alike.
  mutex: { ruleFor: ruleOf },
  election: { ruleFor: ruleOf },
  rwlock: { ruleFor: ruleOf, describe: entry => ({ mode: isReaderKey(entry.key) ? 'read' : 'write' }) },
  semaphore: {
    ruleFor: ruleOf,
    // A key without a semaphore's value (a Mutex, `etcdctl lock`) takes every permit.
    describe: entry => {
      const permit = parsePermitValue(entry.value);
      return permit ? { weight: permit.weight } : {};
    },
  },
};

/** Who holds a lock or leads an election, and who waits, at one revision of the store. */
export interface QueueStatus {
  /** The name asked about. */
  readonly name: string;
  /** The holders (for a lock or an election: the holder or leader alone), oldest first. */
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
  /**
   * What `name` is, which decides who holds: `'mutex'` and `'election'` (the oldest key holds),
   * `'rwlock'` (readers share, a writer excludes), `'semaphore'` (permits). Default: `'mutex'`.
   */
  kind?: QueueKind;
}

/**
 * Reads who holds `name` and who waits for it, in queue order, shaped like the Web Locks API's
 * `navigator.locks.query()` (`held`, `pending`). Works on any lock or election name, also one used
 * by `etcdctl lock` or `etcdctl elect`. One consistent read of the queue plus one `LeaseTimeToLive`
 * per lease; it needs no session.
 *
 * A name nobody uses reads as free (`held` and `pending` empty): etcd cannot tell a free lock from
 * one that never existed, and neither can this. No member has an age: etcd keeps no creation time
 * for a key, only its create revision (an order, not a time), and a lease's TTL starts again at
 * each keepalive, so nothing in etcd dates a holder. A holder whose age matters can put its start
 * time in its value (an election's proclaimed value).
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
  const kind = options.kind ?? 'mutex';
  if (!Object.hasOwn(kinds, kind)) {
    throw new InvalidArgumentError('kind', `kind must be one of ${Object.keys(kinds).join(', ')}. Got: ${String(kind)}`);
  }
  const ctx: CallContext = { policy: sharedDefaultPolicy, callTimeout: timeout };
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
    const members = entries.map((entry): QueueMember => {
      const lease = leaseOf.get(entry.key) ?? '0';
      return {
        key: entry.key,
        leaseId: BigInt(lease).toString(16),
        ttl: lease === '0' ? null : (ttls.get(lease) ?? -1),
        fencingToken: entry.createRevision,
        value: entry.value.toString(),
        ...kinds[kind].describe?.(entry),
      };
    });
    const holders = holdersOf(kinds[kind], name, entries);
    return { name, held: members.slice(0, holders), pending: members.slice(holders), revision: BigInt(res.header.revision) };
  } finally {
    reading.dispose();
  }
}

/**
 * How many of `entries` (oldest first) hold: each kind's rule asked about each entry in turn, up
 * to the first that waits. Every kind is FIFO (nobody overtakes a waiter), so the holders are the
 * oldest entries.
 */
function holdersOf(reader: KindReader, name: string, entries: readonly Entry[]): number {
  let holders = 0;
  while (holders < entries.length) {
    const me = entries[holders]!;
    const older = entries.slice(0, holders).reverse();
    if (reader.ruleFor(name, me).decide(me, older, true).kind !== 'granted') break;
    holders++;
  }
  return holders;
}
