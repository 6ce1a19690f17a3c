import type { IRangeRequest, IRangeResponse, ITxnResponse, Namespace } from 'etcd3';
import { EtcdUnavailableError } from '../errors.js';
import { abortable } from '../util/abort.js';
import { callEtcd, type CallContext } from './call.js';
import { membersOf, type Members } from './members.js';

/** A read asking for at most this many keys, without values, may share a call with others. */
const SHARED_READ_KEYS = 8;
/** Reads in one shared call, at most: etcd's default `--max-txn-ops`. */
const MAX_SHARED_READS = 128;

/** One read waiting for its call. */
interface Pending {
  readonly operation: string;
  readonly request: IRangeRequest;
  readonly signal: AbortSignal | undefined;
  resolve(response: IRangeResponse): void;
  reject(error: unknown): void;
}

/**
 * The small reads of one client and call context that are asked for in the same turn of the event
 * loop, sent together. When thousands of waiters line up at once, each reads the queue ahead of it
 * once its watch is registered: as one read-only transaction of up to 128 ranges, etcd answers
 * them at one revision (each as linearizable as a range of its own) and the client pays for one
 * gRPC call instead of 128. A read alone goes as a plain range, as it would without this.
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
      this.queue.push({ operation, request, signal, resolve, reject });
    });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return signal ? abortable(read, signal) : read;
  }

  private flush(): void {
    this.scheduled = false;
    // A read whose caller gave up meanwhile is not sent (its caller has had the abort already).
    const queue = this.queue.filter(p => !p.signal?.aborted);
    this.queue = [];
    for (let start = 0; start < queue.length; start += MAX_SHARED_READS) void this.send(queue.slice(start, start + MAX_SHARED_READS));
  }

  private async send(reads: Pending[]): Promise<void> {
    if (reads.length === 1) return this.sendAlone(reads[0]!);
    const success = reads.map(p => ({ request_range: p.request }));
    try {
      const res = await callEtcd<ITxnResponse>(this.client, this.ctx, `${reads[0]!.operation} (and ${reads.length - 1} more reads)`, {
        service: 'KV',
        method: 'txn',
        request: { compare: [], success, failure: [] },
      });
      reads.forEach((p, i) => p.resolve(res.responses[i]!.response_range));
    } catch (error) {
      // etcd could not be reached: each read fails as it would have on its own.
      if (error instanceof EtcdUnavailableError) {
        for (const p of reads) p.reject(new EtcdUnavailableError(p.operation, { cause: error.cause ?? error }));
        return;
      }
      // Refused (e.g. one name the user may not read): each read gets its own answer.
      for (const p of reads) void this.sendAlone(p);
    }
  }

  private async sendAlone(p: Pending): Promise<void> {
    try {
      p.resolve(await callEtcd<IRangeResponse>(this.client, this.ctx, p.operation, { service: 'KV', method: 'range', request: p.request }, p.signal));
    } catch (error) {
      p.reject(error);
    }
  }
}

const batches = new WeakMap<Members, WeakMap<CallContext, ReadBatch>>();

/**
 * Reads a range as {@link callEtcd} would (hedged, retried within `ctx.callTimeout`), sharing one
 * call with the other small reads of the same connection pool and context asked for in the same
 * turn of the event loop, when it is one: keys only, at most eight of them. Rejects with
 * `signal.reason` as soon as the signal aborts.
 */
export function readRange(client: Namespace, ctx: CallContext, operation: string, request: IRangeRequest, signal?: AbortSignal): Promise<IRangeResponse> {
  const small = request.keys_only === true && request.limit !== undefined && Number(request.limit) > 0 && Number(request.limit) <= SHARED_READ_KEYS;
  if (!small) return callEtcd<IRangeResponse>(client, ctx, operation, { service: 'KV', method: 'range', request }, signal);
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  const members = membersOf(client);
  let byContext = batches.get(members);
  if (!byContext) batches.set(members, (byContext = new WeakMap()));
  let batch = byContext.get(ctx);
  if (!batch) byContext.set(ctx, (batch = new ReadBatch(client, ctx)));
  return batch.read(operation, request, signal);
}
