import { LockTimeoutError } from '../errors.js';
import type { WatchEvent, WatchListener } from '../etcd/watch.js';
import type { Ticket } from './ticket.js';

/**
 * What a turn waits under, in one object (thousands of turns may wait in one process): its
 * {@link signal} aborts when the caller's signal does, our ticket ends, or the timeout passes; and
 * it hears the current watch, counting its news for {@link next}.
 */
export class Waiting implements WatchListener {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private posted = 0;
  private seen = 0;
  private error: Error | undefined;
  private resolveNext: (() => void) | undefined;
  private rejectNext: ((reason: unknown) => void) | undefined;
  /** The latest deletion revision of each key the current watch saw deleted; none until one is. */
  deleted: Map<string, bigint> | undefined;

  constructor(
    private readonly ticket: Ticket,
    private readonly parent: AbortSignal | undefined,
    timeout: number | undefined,
    name: string,
  ) {
    if (parent) parent.addEventListener('abort', this, { once: true });
    ticket.follow(this);
    if (timeout !== undefined && !this.signal.aborted) this.timer = setTimeout(() => this.abort(new LockTimeoutError(name, timeout)), timeout);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts {@link signal} with `reason` (the first reason wins), and wakes {@link next}. */
  abort(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    this.wake();
  }

  /** @internal The caller's signal aborted. */
  handleEvent(): void {
    this.abort(this.parent!.reason);
  }

  /** Starts hearing a new watch: forgets what the previous one said. */
  listen(): this {
    this.posted = this.seen = 0;
    this.error = undefined;
    this.deleted = undefined;
    return this;
  }

  synced(): void {
    this.post();
  }

  events(events: readonly WatchEvent[]): void {
    for (const e of events) {
      if (e.type !== 'delete') continue;
      const key = this.ticket.keyspace.relative(e.kv.key);
      const at = BigInt(e.kv.mod_revision);
      this.deleted ??= new Map();
      if (at > (this.deleted.get(key) ?? 0n)) this.deleted.set(key, at);
    }
    this.post();
  }

  failed(error: Error): void {
    this.error = error;
    this.wake();
  }

  /**
   * Resolves once the watch has news not yet seen (registered, or events); rejects with the
   * signal's reason once it aborts, or with the watch's failure.
   */
  next(): Promise<void> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.error) return Promise.reject(this.error);
    if (this.posted !== this.seen) {
      this.seen = this.posted;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.resolveNext = resolve;
      this.rejectNext = reject;
    });
  }

  /** Stops following the caller's signal, our ticket and the timeout. */
  dispose(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this);
    this.ticket.unfollow(this);
  }

  private post(): void {
    this.posted++;
    this.wake();
  }

  /** Settles a pending {@link next}, if any, with what there is now. */
  private wake(): void {
    const resolve = this.resolveNext;
    const reject = this.rejectNext;
    if (!resolve || !reject) return;
    this.resolveNext = this.rejectNext = undefined;
    const signal = this.controller.signal;
    if (signal.aborted) reject(signal.reason);
    else if (this.error) reject(this.error);
    else {
      this.seen = this.posted;
      resolve();
    }
  }
}
