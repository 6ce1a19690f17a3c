import type { IPolicy } from 'cockatiel';
import type { IRangeRequest, IRangeResponse, ITxnResponse, Namespace } from 'etcd3';
import { EtcdUnavailableError } from '../errors.js';
import { abortable } from '../util/abort.js';
import { callEtcd, type CallContext } from './call.js';
import { int64 } from './int64.js';
import { membersOf, type Members } from './members.js';

/** A read asking for at most this many keys, without values, may share a call with others. */
const SHARED_READ_KEYS = 8;
/** Reads in one shared call, at most: etcd's default `--max-txn-ops`. */
const MAX_SHARED_READS = 128;

/** One read waiting for its call. */
interface PendingRead {
  readonly kind: 'read';
  readonly operation: string;
  readonly request: IRangeRequest;
  readonly signal: AbortSignal | undefined;
  resolve(response: IRangeResponse): void;
  reject(error: unknown): void;
}

/** One check of a key's create revision waiting for its call. */
interface PendingCheck {
  readonly kind: 'check';
  readonly operation: string;
  readonly key: Buffer;
  readonly createRevision: bigint;
  readonly signal: undefined;
  resolve(holds: boolean): void;
  reject(error: unknown): void;
}

type Pending = PendingRead | PendingCheck;

/**
 * The small reads and key checks of one client and call context that are asked for in the same
 * turn of the event loop, sent together. When thousands of waiters line up at once, each reads the
 * queue ahead of it once its watch is registered; when a writer leaves, each reader behind it
 * checks that its own key is still there. As one read-only transaction of up to 128 operations,
 * etcd answers them at one revision (each as linearizable as a call of its own) and the client
 * pays for one gRPC call instead of 128. A read alone goes as a plain range, as it would without
 * this.
 *
 * The checks are the transaction's comparisons: when every key is still there with its create
 * revision (the usual case), the answer carries nothing for them. When one is not (a lease lost, a
 * key deleted by hand), each checked key is then read on its own.
 */
class ReadBatch {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly client: Namespace,
    private readonly ctx: CallContext,
  ) {}

  read(operation: string, request: IRangeRequest, signal: AbortSignal | undefined): Promise<IRangeResponse> {
    const read = new Promise<IRangeResponse>((resolve, reject) => {
      this.enqueue({ kind: 'read', operation, request, signal, resolve, reject });
    });
    return signal ? abortable(read, signal) : read;
  }

  check(operation: string, key: Buffer, createRevision: bigint): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.enqueue({ kind: 'check', operation, key, createRevision, signal: undefined, resolve, reject });
    });
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    // A read whose caller gave up meanwhile is not sent (its caller has had the abort already).
    const queue = this.queue.filter(p => !p.signal?.aborted);
    this.queue = [];
    for (let start = 0; start < queue.length; start += MAX_SHARED_READS) void this.send(queue.slice(start, start + MAX_SHARED_READS));
  }

  private async send(batch: Pending[]): Promise<void> {
    if (batch.length === 1 && batch[0]!.kind === 'read') return this.sendAlone(batch[0]!);
    const reads = batch.filter(p => p.kind === 'read');
    const checks = batch.filter(p => p.kind === 'check');
    const ranges = reads.map(p => ({ request_range: p.request }));
    try {
      const res = await callEtcd<ITxnResponse>(this.client, this.ctx, `${batch[0]!.operation}${batch.length > 1 ? ` (and ${batch.length - 1} more reads)` : ''}`, {
        service: 'KV',
        method: 'txn',
        request: {
          compare: checks.map(c => ({ key: c.key, target: 'Create', result: 'Equal', create_revision: int64(c.createRevision) })),
          success: ranges,
          failure: ranges,
        },
      });
      reads.forEach((p, i) => p.resolve(res.responses[i]!.response_range));
      if (res.succeeded) for (const c of checks) c.resolve(true);
      // A key is gone (rare: its lease was lost, or someone deleted it): each checked key is read,
      // together in the next call.
      else for (const c of checks) this.readBack(c);
    } catch (error) {
      // etcd could not be reached: each read fails as it would have on its own.
      if (error instanceof EtcdUnavailableError) {
        for (const p of batch) p.reject(new EtcdUnavailableError(p.operation, { cause: error.cause ?? error }));
        return;
      }
      // Refused (e.g. one name the user may not read): each read gets its own answer.
      for (const p of batch) void this.sendAlone(p);
    }
  }

  /** Answers a check by a point read of its key, sent with the next batch. */
  private readBack(c: PendingCheck): void {
    const request: IRangeRequest = { key: c.key, keys_only: true };
    const resolve = (res: IRangeResponse): void => c.resolve(holds(res, c.createRevision));
    this.enqueue({ kind: 'read', operation: c.operation, request, signal: undefined, resolve, reject: c.reject });
  }

  private async sendAlone(p: Pending): Promise<void> {
    try {
      const request = p.kind === 'read' ? p.request : { key: p.key, keys_only: true };
      const res = await callEtcd<IRangeResponse>(this.client, this.ctx, p.operation, { service: 'KV', method: 'range', request }, p.signal);
      if (p.kind === 'read') p.resolve(res);
      else p.resolve(holds(res, p.createRevision));
    } catch (error) {
      p.reject(error);
    }
  }
}

/** Whether a point read found its key with this create revision. */
function holds(res: IRangeResponse, createRevision: bigint): boolean {
  const kv = res.kvs[0];
  return kv !== undefined && BigInt(kv.create_revision) === createRevision;
}

/** The batches of each connection pool, by retry policy and call timeout: calls made alike. */
const batches = new WeakMap<Members, WeakMap<IPolicy, Map<number, ReadBatch>>>();

/** The batch of reads for this client's connections and this way of calling (`ctx`'s policy and timeout). */
function batchOf(client: Namespace, ctx: CallContext): ReadBatch {
  const members = membersOf(client);
  let byPolicy = batches.get(members);
  if (!byPolicy) batches.set(members, (byPolicy = new WeakMap()));
  let byTimeout = byPolicy.get(ctx.policy);
  if (!byTimeout) byPolicy.set(ctx.policy, (byTimeout = new Map()));
  let batch = byTimeout.get(ctx.callTimeout);
  if (!batch) byTimeout.set(ctx.callTimeout, (batch = new ReadBatch(client, ctx)));
  return batch;
}

/**
 * Reads a range as {@link callEtcd} would (hedged, retried within `ctx.callTimeout`), sharing one
 * call with the other small reads of the same connection pool, retry policy and call timeout asked for in the same
 * turn of the event loop, when it is one: keys only, one key (a point read: a waiter confirming
 * its key) or a range of at most eight. Rejects with `signal.reason` as soon as the signal aborts.
 */
export function readRange(client: Namespace, ctx: CallContext, operation: string, request: IRangeRequest, signal?: AbortSignal): Promise<IRangeResponse> {
  const limit = Number(request.limit ?? 0);
  const small = request.keys_only === true && (request.range_end === undefined || (limit > 0 && limit <= SHARED_READ_KEYS));
  if (!small) return callEtcd<IRangeResponse>(client, ctx, operation, { service: 'KV', method: 'range', request }, signal);
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return batchOf(client, ctx).read(operation, request, signal);
}

/**
 * Whether `key` (as stored, namespace included) still exists with this create revision: a point
 * read's answer, as a comparison of a read-only transaction shared with the other small reads and
 * checks of the moment (see {@link readRange}). Retried and hedged as any read.
 */
export function checkKey(client: Namespace, ctx: CallContext, operation: string, key: Buffer, createRevision: bigint): Promise<boolean> {
  return batchOf(client, ctx).check(operation, key, createRevision);
}
