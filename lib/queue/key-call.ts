import type { IRangeRequest } from 'etcd3';
import { callEtcd, type CallContext } from '../etcd/call.js';
import { isLeaseGone } from '../etcd/classify.js';
import { readRange } from '../etcd/read-batch.js';
import type { Session } from '../session/session.js';

/** How {@link keyCall} makes a call. */
export interface KeyCallOptions {
  readonly signal?: AbortSignal;
  /**
   * Whether copies may be in flight at once: a read, or a delete guarded by the key's create
   * revision; never a create-if-absent, an update or a delete guarded by the lease alone, whose
   * late copy could act after the caller's next step. Default: for a range only.
   */
  readonly hedge?: boolean;
  /** Called when a write went unanswered: etcd may still apply it later. */
  readonly uncertain?: () => void;
}

/**
 * One KV call on a queue key of `session` (a ticket's). A small read may share its call with
 * other reads of the moment (see `readRange`). A write on the session's lease that etcd refuses
 * because the lease is gone ends the session, and rejects with the session's typed reason.
 */
export async function keyCall<T>(session: Session, ctx: CallContext, operation: string, method: 'txn' | 'range', request: unknown, options: KeyCallOptions = {}): Promise<T> {
  const { signal, hedge = method === 'range' } = options;
  const write = method === 'txn';
  try {
    if (method === 'range' && hedge) return (await readRange(session.client, ctx, operation, request as IRangeRequest, signal)) as T;
    return await callEtcd<T>(session.client, ctx, operation, { service: 'KV', method, request, write, hedge, uncertain: write ? options.uncertain : undefined }, signal);
  } catch (error) {
    throw isLeaseGone(error) ? session.leaseGone(error) : error;
  }
}
