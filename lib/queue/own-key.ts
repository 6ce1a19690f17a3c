import type { Namespace } from 'etcd3';
import { OwnershipLostError, PermissionDeniedError } from '../errors.js';
import { watch, type Watch, type WatchEvent, type WatchListener } from '../etcd/watch.js';
import { sweepLater } from './sweep.js';

/** What the guard of a ticket's own key reports to, and asks of, its ticket. */
export interface OwnKeyListener {
  /** Our key was deleted (by anyone, or by etcd with the lease). */
  ownKeyDeleted(): void;
  /** Checks that our key is still ours; if not, the ticket ends and this rejects. */
  confirm(): Promise<void>;
  /** Whether the ticket ended. */
  readonly ended: boolean;
  /** Aborts when the session ends (its lease then takes our key). */
  readonly until: AbortSignal;
}

/**
 * Watches a ticket's own key for deletion.
 *
 * - **A waiter's** guard starts at once and watches from "now": its first registration is followed
 *   by the turn loop's read of the queue (which confirms our key), sent once the watch on what the
 *   rule names is registered behind it on the same stream, so a deletion before the registration
 *   shows in that read. A watch from just past our create revision would do without the read, but
 *   by the time it is registered other keys have been written, so etcd serves it from its catch-up
 *   loop: with thousands of waiters joining at once, that loop's reads of the history are what the
 *   member serving the stream spends its time on.
 * - **A hold granted at once** starts it after a short delay, so the shortest holds cost no watch at
 *   all, and no read follows: it watches from just past our create revision, so a deletion during
 *   the delay reaches it too (from etcd's catch-up loop), and none of an earlier key of the same
 *   name can.
 *
 * A watch registered again from "now" (its stream was replaced, or etcd dropped it) asks for one
 * read of our key.
 */
export class OwnKeyGuard implements WatchListener {
  private watch: Watch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cancelled = false;
  /** The first registration of a watch from "now" is covered by the caller's own read. */
  private gapCovered = false;

  constructor(
    private readonly client: Namespace,
    /** The key as stored (namespace included). */
    private readonly key: Buffer,
    private readonly createRevision: bigint,
    private readonly listener: OwnKeyListener,
  ) {}

  /**
   * Starts watching: at once from "now" (`delayMs` 0: the caller reads the queue, our key included,
   * after this watch is registered), or after `delayMs` from just past our create revision (a
   * timer that does not keep the process alive).
   */
  start(delayMs: number): void {
    if (delayMs === 0) {
      this.gapCovered = true;
      return this.open(undefined);
    }
    this.timer = setTimeout(() => this.open(this.createRevision + 1n), delayMs);
    this.timer.unref();
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.timer);
    this.watch?.cancel();
  }

  /** @internal */
  synced(_revision: bigint, gapFree: boolean, first: boolean): void {
    const covered = first && this.gapCovered;
    this.gapCovered = false;
    if (!gapFree && !covered && !this.cancelled) confirmLater(this.listener);
  }

  /**
   * @internal A deletion at or before our create revision is of an earlier key of the same name
   * (`<name>/<lease>` is taken again after a release): a watch from "now" on a member that has not
   * applied our creation yet starts before it and hears that deletion.
   */
  events(events: readonly WatchEvent[]): void {
    if (!this.cancelled && events.some(e => e.type === 'delete' && BigInt(e.kv.mod_revision) > this.createRevision)) this.listener.ownKeyDeleted();
  }

  private open(startRevision: bigint | undefined): void {
    if (this.cancelled || this.watch) return;
    this.watch = watch(this.client, startRevision === undefined ? { key: this.key, events: 'delete' } : { key: this.key, events: 'delete', startRevision }, this);
  }
}

/**
 * Reads our key once (retrying while etcd is unavailable, until the ticket or the session ends) to
 * see that it is still ours: a read that finds it gone ends the ticket. It asks for no signal of
 * its own: after a watch stream is replaced, every ticket on it asks this.
 */
function confirmLater(ticket: OwnKeyListener): void {
  sweepLater(
    0,
    async () => {
      if (ticket.ended) return;
      try {
        await ticket.confirm();
      } catch (error) {
        if (!(error instanceof OwnershipLostError || error instanceof PermissionDeniedError)) throw error;
      }
    },
    ticket.until,
  );
}
