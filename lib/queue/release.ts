import { PermissionDeniedError } from '../errors.js';
import { int64 } from '../etcd/int64.js';
import type { Session } from '../session/session.js';
import { keyCall } from './key-call.js';
import { sweepLater } from './sweep.js';

/**
 * How long after a creation of unknown outcome our key could still appear, ms: a request that
 * reached a raft leader that then froze can be committed by the next leader after our client gave
 * up on it (etcd's own request timeout is 5 s plus two election timeouts).
 */
const LATE_COMMIT_MS = 10_000;
/** First retry of a key's deletion that etcd could not take, ms. */
const DELETE_RETRY_MS = 500;

/** A released ticket's key, as its deletion sees it. */
export interface ReleasedKey {
  readonly session: Session;
  readonly prefix: string;
  /** The key's slot under the prefix on the session (see `Session.reserveSlot`). */
  readonly slot: number;
  /** The key, relative to the client's namespace, and as stored. */
  readonly key: string;
  readonly storedKey: Buffer;
  /** The key's create revision, when known: the delete is guarded by it, else by our lease. */
  readonly knownRevision: bigint | undefined;
  /** Whether a write of the key went unanswered: etcd may still apply it later. */
  lateWrites: boolean;
}

/**
 * Deletes a released key if it is still ours. If etcd cannot be reached, this rejects and the
 * deletion goes on in the background until it succeeds or the session ends (etcd then deletes the
 * key with the lease). A creation that may still be applied keeps the slot (so no later key takes
 * this name), and is swept once more after it can no longer appear.
 */
export async function deleteReleased(k: ReleasedKey): Promise<void> {
  try {
    await deleteKey(k);
  } catch (error) {
    if (!(error instanceof PermissionDeniedError)) deleteInBackground(k, DELETE_RETRY_MS);
    throw error;
  }
  if (k.lateWrites) deleteInBackground(k, LATE_COMMIT_MS);
  else k.session.releaseSlot(k.prefix, k.slot);
}

/** Deletes the key if it is still ours: by create revision when known, else by lease. */
async function deleteKey(k: ReleasedKey): Promise<void> {
  const key = k.storedKey;
  const known = k.knownRevision;
  const guard =
    known !== undefined
      ? { key, target: 'Create' as const, result: 'Equal' as const, create_revision: int64(known) }
      : { key, target: 'Lease' as const, result: 'Equal' as const, lease: k.session.lease };
  const request = { compare: [guard], success: [{ request_delete_range: { key } }] };
  await keyCall(k.session, k.session.ctx, `delete ${k.key}`, 'txn', request, { hedge: known !== undefined, uncertain: () => void (k.lateWrites = true) });
}

/** Keeps trying to delete the key until it is gone or the session ends (its lease then removes it). */
function deleteInBackground(k: ReleasedKey, firstDelay: number): void {
  sweepLater(
    firstDelay,
    async () => {
      await deleteKey(k);
      k.session.releaseSlot(k.prefix, k.slot);
    },
    k.session.signal,
  );
}
