import { LockTimeoutError } from '../errors.js';
import type { WatchEvent, WatchListener } from '../etcd/watch.js';
import type { Ticket } from './ticket.js';

/**
 * What a turn waits under, in one object (thousands of turns may wait in one process): it is
 * {@link aborted} when the caller's signal aborts, our ticket ends, or the timeout passes; it
 * races the turn's calls against that ({@link race}); and it hears the current watch, counting its
 * news for {@link next}. An `AbortSignal` ({@link signal}) is made only for a call that asks for one.
 */
export class Waiting implements WatchListener {
  private controller: AbortController | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private abortedNow = false;
  private reasonNow: unknown;
  private posted = 0;
  private seen = 0;
  private error: Error | undefined;
  private resolveNext: (() => void) | undefined;
  private rejectNext: ((reason: unknown) => void) | undefined;
  /** The rejection of the call {@link race} runs now, if any (the turn makes one call at a time). */
  private rejectRace: ((reason: unknown) => void) | undefined;
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
    if (timeout !== undefined && !this.abortedNow) this.timer = setTimeout(() => this.abort(new LockTimeoutError(name, timeout)), timeout);
  }

  /** Whether the wait was given up (see {@link reason}). */
  get aborted(): boolean {
    return this.abortedNow;
  }

  /** Why the wait was given up, once it was. */
  get reason(): unknown {
    return this.reasonNow;
  }

  /** A signal that aborts with {@link reason}: made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedNow) this.controller.abort(this.reasonNow);
    }
    return this.controller.signal;
  }

  /** Aborts the wait with `reason` (the first reason wins): rejects {@link race} and {@link next}. */
  abort(reason: unknown): void {
    if (this.abortedNow) return;
    this.abortedNow = true;
    this.reasonNow = reason;
    this.controller?.abort(reason);
    const reject = this.rejectRace;
    this.rejectRace = undefined;
    reject?.(reason);
    this.wake();
  }

  /**
   * Settles as `call` does, or rejects with {@link reason} as soon as the wait is given up. One
   * call at a time; a rejection of `call` after that is handled here (ignored).
   */
  race<T>(call: Promise<T>): Promise<T> {
    if (this.abortedNow) {
      call.catch(() => undefined);
      return Promise.reject(this.reasonNow as Error);
    }
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      call.then(
        value => {
          if (this.rejectRace === reject) this.rejectRace = undefined;
          resolve(value);
        },
        (error: unknown) => {
          if (this.rejectRace === reject) this.rejectRace = undefined;
          reject(error as Error);
        },
      );
    });
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
    if (this.abortedNow) return Promise.reject(this.reasonNow as Error);
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
    if (this.abortedNow) reject(this.reasonNow);
    else if (this.error) reject(this.error);
    else {
      this.seen = this.posted;
      resolve();
    }
  }
}
