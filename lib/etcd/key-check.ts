import type { ITxnResponse, Namespace } from 'etcd3';
import { callEtcd, type CallContext } from './call.js';

/** etcd's default limit of operations in one transaction (`--max-txn-ops`). */
const MAX_OPS = 128;

interface Check {
  readonly key: Buffer;
  readonly createRevision: bigint;
  readonly ctx: CallContext;
  readonly resolve: (exists: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Checks that keys still exist (with the create revisions they were created at), many in one round
 * trip: the checks asked for in the same turn of the event loop, or while another batch is in
 * flight, go out together as one read-only transaction that compares every key's create revision
 * (at most {@link MAX_OPS} each) and carries no data back. Only if one of them fails does a second
 * transaction read the batch's keys to tell which. A writer's release that admits a hundred
 * readers of one process so costs one or two small reads, not a hundred; a lone check goes out in
 * the same turn of the event loop it was asked in.
 *
 * Every read is linearizable and sent after the check was asked for, so it sees at least what the
 * caller had seen (a deletion its watch reported).
 */
class KeyChecks {
  private queue: Check[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(private readonly client: Namespace) {}

  check(key: Buffer, createRevision: bigint, ctx: CallContext): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, createRevision, ctx, resolve, reject });
      if (this.inFlight === 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_OPS);
      this.inFlight++;
      void this.send(batch).finally(() => {
        if (--this.inFlight === 0 && this.queue.length > 0) this.flush();
      });
    }
  }

  /** Settles every check of `batch`: one transaction of compares, and if one fails, one of point reads. */
  private async send(batch: Check[]): Promise<void> {
    // The batch runs to its end whoever waits for it: each caller bounds its own wait.
    const ctx = batch[0]!.ctx;
    const operation = batch.length === 1 ? 'read a key' : `read ${batch.length} keys`;
    const txn = (request: object): Promise<ITxnResponse> => callEtcd<ITxnResponse>(this.client, ctx, operation, { service: 'KV', method: 'txn', request });
    try {
      const compare = batch.map(c => ({ key: c.key, target: 'Create', result: 'Equal', create_revision: c.createRevision.toString() }));
      if ((await txn({ compare })).succeeded) return batch.forEach(c => c.resolve(true));
      if (batch.length === 1) return batch[0]!.resolve(false);
      const res = await txn({ success: batch.map(c => ({ request_range: { key: c.key, keys_only: true } })) });
      batch.forEach((c, i) => {
        const kv = res.responses[i]?.response_range.kvs[0];
        c.resolve(kv !== undefined && BigInt(kv.create_revision) === c.createRevision);
      });
    } catch (error) {
      for (const c of batch) c.reject(error);
    }
  }
}

const checks = new WeakMap<Namespace, KeyChecks>();

/**
 * Whether `key` (as stored, namespace included) still exists with `createRevision`, read through
 * `client` with the other checks of the moment (see {@link KeyChecks}).
 *
 * @throws what {@link callEtcd} throws, e.g. {@link EtcdUnavailableError}.
 */
export function keyExists(client: Namespace, ctx: CallContext, key: Buffer, createRevision: bigint): Promise<boolean> {
  let batcher = checks.get(client);
  if (!batcher) checks.set(client, (batcher = new KeyChecks(client)));
  return batcher.check(key, createRevision, ctx);
}
