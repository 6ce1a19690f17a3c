import type { IKeyValue } from 'etcd3';
import { PermissionDeniedError } from '../errors.js';
import { pause } from '../util/abort.js';
import { Backoff } from '../util/backoff.js';
import { isPermissionError, isStaleToken } from './classify.js';
import { discardStream, type DuplexStream, type Endpoint } from './internals.js';
import type { Members } from './members.js';
import type { Watch, WatchListener, WatchTarget } from './watch.js';
import { WatchCreations } from './watch-creations.js';
import { Joiner, Registration, shareKey, type Hub } from './watch-registration.js';

/** With no answer on the stream for this long, ask etcd for a progress report, ms. */
const PROGRESS_AFTER_MS = 500;
/** A stream that answers nothing, not even a progress request, for this long is dead, ms. */
const SILENCE_MS = 1000;
/** An idle stream (no watch left) is kept this long for the next watch, ms. */
const LINGER_MS = 2000;
/** Reconnect backoff bounds, ms. */
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;
/** A watch refused for permission this many times in a row, each on a fresh stream and token, fails. */
const MAX_REFUSALS = 2;

interface WatchResponse {
  header: { revision: string };
  watch_id: string;
  created: boolean;
  canceled: boolean;
  cancel_reason: string;
  events: { type: 'Put' | 'Delete'; kv: IKeyValue }[];
}

/**
 * The library's one watch primitive: every watch of one etcd3 client (one connection pool) shares
 * one gRPC watch stream, on a member {@link Members} considers healthy.
 *
 * - **Creations are pipelined** with watch ids of our own (etcd ≥ 3.4), where etcd3 sends one and
 *   waits for its answer before the next: up to 256 are in flight at once, so thousands of waiters
 *   register in a few round trips' time ({@link WatchCreations}).
 * - **Liveness**: when the stream has been quiet for 0.5 s, a progress request goes out (answered
 *   by the member at once, without raft); a stream that answers nothing for 1 s is dead (a frozen
 *   or cut-off member keeps its socket open and never says so). It is then replaced on another
 *   member, every watch registered again from "now", and every listener told to re-read.
 * - **Refusals**: a watch refused for permission may have carried a token etcd no longer accepts,
 *   so the token is renewed and the stream replaced once before the watch fails.
 * - **Same watch, one registration**: watches of the same keys and events from "now" share one
 *   etcd watch, so a release that concerns many waiters of one process (the readers queued behind a
 *   writer) costs one event on the stream, not one per waiter. One that joins is told it is synced
 *   when etcd answers a progress request sent at the join: etcd answers a stream's requests in
 *   order, so every watch created before the join (a waiter's own-key watch, whose gap the read
 *   after this sync closes) is registered by then. etcd's watch ends with its last listener.
 * - Answers for a watch we no longer know (cancelled meanwhile) are ignored.
 */
export class WatchHub implements Hub {
  private readonly watches = new Map<number, Registration>();
  /** The registrations of watches from "now", which others may join, by target (see {@link shareKey}). */
  private readonly shared = new Map<string, Registration>();
  /** The creations sent on the stream or waiting their turn, and the progress requests that sync joiners. */
  private readonly creations = new WatchCreations({
    isOpen: () => this.stream !== undefined,
    send: request => this.send(request),
    watches: registration => this.watches.get(registration.id) === registration,
  });
  private nextId = 1;
  private stream: DuplexStream<unknown, WatchResponse> | undefined;
  private endpoint: Endpoint | undefined;
  private opening: Promise<void> | undefined;
  private lastHeard = 0;
  private progressSentAt: number | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private lingering: NodeJS.Timeout | undefined;
  /** Failures in a row of the stream; a new one is opened at once after the first. */
  private failures = 0;
  private readonly backoff = new Backoff(RECONNECT_MIN_MS, RECONNECT_MAX_MS);

  constructor(private readonly members: Members) {}

  /** The member the stream is on now (`host:port`), if one is open. */
  get endpointId(): string | undefined {
    return this.stream ? this.endpoint?.id : undefined;
  }

  watch(target: WatchTarget, listener: WatchListener): Watch {
    const share = target.startRevision === undefined ? shareKey(target) : undefined;
    const joined = share === undefined ? undefined : this.shared.get(share);
    if (joined) {
      const joiner = new Joiner(this, joined, listener);
      (joined.joiners ??= []).push(joiner);
      this.creations.join(joiner);
      return joiner;
    }
    const registration = new Registration(this, this.nextId++, target, listener, target.startRevision, share);
    this.watches.set(registration.id, registration);
    if (share !== undefined) this.shared.set(share, registration);
    clearTimeout(this.lingering);
    if (this.stream) this.creations.create(registration);
    else void this.open();
    return registration;
  }

  /** @internal A listener of `registration` left: etcd's watch ends once none is left. */
  leave(registration: Registration): void {
    if (registration.owned || (registration.joiners?.length ?? 0) > 0) return;
    this.drop(registration);
  }

  /** Ends etcd's watch of `registration`. */
  private drop(registration: Registration): void {
    if (this.watches.get(registration.id) !== registration) return;
    this.watches.delete(registration.id);
    if (registration.share !== undefined && this.shared.get(registration.share) === registration) this.shared.delete(registration.share);
    // etcd handles a stream's requests in order: a cancellation sent before the creation was
    // answered still finds the watch.
    if (registration.sent && this.stream) this.send({ cancel_request: { watch_id: registration.id } });
    if (this.watches.size === 0) {
      clearTimeout(this.lingering);
      this.lingering = setTimeout(() => {
        if (this.watches.size === 0) this.close();
      }, LINGER_MS);
      this.lingering.unref();
    }
  }

  private send(request: object): void {
    try {
      this.stream?.write(request);
    } catch {
      // The stream is closing; its end replaces it.
    }
  }

  /** Opens a stream on the healthiest member and registers every watch on it. */
  private open(): Promise<void> {
    this.opening ??= (async () => {
      const endpoint = this.members.order()[0]!;
      let stream: DuplexStream<unknown, WatchResponse>;
      try {
        stream = await endpoint.stream<unknown, WatchResponse>('Watch', 'watch');
      } catch {
        this.opening = undefined;
        this.members.suspect(endpoint);
        return this.reopenLater();
      }
      this.opening = undefined;
      if (this.watches.size === 0) {
        discardStream(stream);
        return;
      }
      this.stream = stream;
      this.endpoint = endpoint;
      this.lastHeard = performance.now();
      this.progressSentAt = undefined;
      stream.on('data', res => this.onResponse(stream, res));
      stream.on('error', () => this.onBroken(stream, false));
      stream.on('end', () => this.onBroken(stream, false));
      this.creations.opened(this.watches.values());
      this.ticker = setInterval(() => this.checkLiveness(stream), PROGRESS_AFTER_MS / 2);
      this.ticker.unref();
    })();
    return this.opening;
  }

  private checkLiveness(stream: DuplexStream<unknown, WatchResponse>): void {
    if (stream !== this.stream) return;
    const now = performance.now();
    if (this.progressSentAt !== undefined) {
      if (now - this.progressSentAt >= SILENCE_MS && this.lastHeard < this.progressSentAt) this.onBroken(stream, true);
      return;
    }
    if (now - this.lastHeard >= PROGRESS_AFTER_MS) {
      this.progressSentAt = now;
      this.creations.sendProgress([]);
    }
  }

  private onResponse(stream: DuplexStream<unknown, WatchResponse>, res: WatchResponse): void {
    if (stream !== this.stream) return;
    this.lastHeard = performance.now();
    this.progressSentAt = undefined;
    this.failures = 0;
    this.backoff.reset();
    if (this.endpoint) this.members.answered(this.endpoint);
    let id = Number(res.watch_id);
    if (id === -1 && !res.created && !res.canceled && res.events.length === 0) return this.creations.progressAnswered(BigInt(res.header.revision));
    if (res.created) id = this.creations.answered(id);
    const registration = this.watches.get(id);
    if (!registration) return; // a progress report, or an answer for a watch cancelled meanwhile
    const revision = BigInt(res.header.revision);
    if (res.canceled) return this.onRefused(registration, res.cancel_reason);
    const joiners = registration.joiners === undefined ? undefined : registration.joiners.filter(j => !j.awaiting);
    if (res.created) {
      registration.registered = true;
      registration.refusals = 0;
      const gapFree = registration.startRevision !== undefined;
      if (registration.owned) registration.listener.synced(revision, gapFree, registration.first);
      if (joiners) {
        for (const j of joiners) {
          j.syncedAt = revision;
          j.listener.synced(revision, false, false);
        }
      }
    }
    if (res.events.length > 0) {
      const events = res.events.map(e => ({ type: e.type === 'Delete' ? ('delete' as const) : ('put' as const), kv: e.kv }));
      if (registration.owned) registration.listener.events(events, revision);
      if (joiners) {
        const at = events.map(e => BigInt(e.kv.mod_revision));
        for (const j of joiners) {
          const after = at[0]! > j.syncedAt ? events : events.filter((_, i) => at[i]! > j.syncedAt);
          if (after.length > 0) j.listener.events(after, revision);
        }
      }
    }
  }

  /** etcd cancelled a watch we did not cancel: refused at creation, or (rarely) dropped later. */
  private onRefused(registration: Registration, reason: string): void {
    registration.registered = registration.sent = registration.first = false;
    registration.startRevision = undefined;
    const error = new Error(reason || 'etcd cancelled the watch');
    if (isPermissionError(error) || isStaleToken(error)) {
      if (++registration.refusals > MAX_REFUSALS) {
        const failure = new PermissionDeniedError('watch a key', { cause: error });
        const joiners = registration.joiners ?? [];
        registration.joiners = undefined;
        this.drop(registration);
        if (registration.owned) registration.listener.failed?.(failure);
        for (const j of joiners) j.listener.failed?.(failure);
        return;
      }
      // Perhaps a token etcd forgot: authenticate again on a new stream, which registers it again.
      this.members.invalidateToken();
      if (this.stream) this.onBroken(this.stream, false);
      return;
    }
    // Anything else (e.g. a compacted start revision): register again from now; the owner re-reads.
    setTimeout(() => {
      if (this.watches.get(registration.id) === registration && this.stream) this.creations.create(registration);
    }, RECONNECT_MIN_MS).unref();
  }

  /** The stream ended, failed, or went silent: replace it, on another member if this one is suspect. */
  private onBroken(stream: DuplexStream<unknown, WatchResponse>, silent: boolean): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    clearInterval(this.ticker);
    if (silent && this.endpoint) this.members.suspect(this.endpoint);
    this.endpoint = undefined;
    discardStream(stream);
    this.creations.lost();
    for (const registration of this.watches.values()) {
      registration.registered = registration.sent = registration.first = false;
      registration.startRevision = undefined;
      // Registered again from "now", it tells every listener, joiners too, that it is synced.
      for (const j of registration.joiners ?? []) j.awaiting = false;
    }
    if (this.watches.size === 0) return;
    this.failures++;
    if (silent || this.failures === 1) void this.open();
    else void this.reopenLater();
  }

  private async reopenLater(): Promise<void> {
    this.failures++;
    await pause(this.backoff.next());
    if (this.watches.size > 0 && !this.stream) await this.open();
  }

  private close(): void {
    clearInterval(this.ticker);
    const stream = this.stream;
    this.stream = undefined;
    this.endpoint = undefined;
    this.creations.clearBacklog();
    if (stream) discardStream(stream);
  }
}
