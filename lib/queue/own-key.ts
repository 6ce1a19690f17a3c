import type { Namespace } from 'etcd3';
import { watch, type Watch, type WatchEvent, type WatchListener } from '../etcd/watch.js';

/** What the guard of a ticket's own key reports. */
export interface OwnKeyListener {
  /** Our key was deleted (by anyone, or by etcd with the lease). */
  ownKeyDeleted(): void;
  /** The watch was registered again from "now": read the key once to close the gap. */
  confirmOwnKey(): void;
}

/**
 * Watches a ticket's own key for deletion, from just past its create revision: a deletion at any
 * later revision reaches it (one during a delayed start too, from etcd's catch-up loop), and none of
 * an earlier key of the same name can. Started at once for a waiter; a hold granted at once starts
 * it after a short delay, so the shortest holds cost no watch at all.
 */
export class OwnKeyGuard implements WatchListener {
  private watch: Watch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cancelled = false;

  constructor(
    private readonly client: Namespace,
    /** The key as stored (namespace included). */
    private readonly key: Buffer,
    private readonly createRevision: bigint,
    private readonly listener: OwnKeyListener,
  ) {}

  /** Starts watching, now or after `delayMs` (a timer that does not keep the process alive). */
  start(delayMs: number): void {
    if (delayMs === 0) return this.open();
    this.timer = setTimeout(() => this.open(), delayMs);
    this.timer.unref();
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.timer);
    this.watch?.cancel();
  }

  /** @internal */
  synced(_revision: bigint, gapFree: boolean): void {
    if (!gapFree && !this.cancelled) this.listener.confirmOwnKey();
  }

  /** @internal */
  events(events: readonly WatchEvent[]): void {
    if (!this.cancelled && events.some(e => e.type === 'delete')) this.listener.ownKeyDeleted();
  }

  private open(): void {
    if (this.cancelled || this.watch) return;
    this.watch = watch(this.client, { key: this.key, events: 'delete', startRevision: this.createRevision + 1n }, this);
  }
}
