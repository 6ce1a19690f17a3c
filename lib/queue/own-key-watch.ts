import type { Session } from '../session/session.js';
import { watchDeletion, type KeyWatch } from '../etcd/watch.js';

/** How long an own-key watch nobody uses is kept for the next hold of the same key, in ms. */
const LINGER_MS = 5000;

/** What a queue entry hears from the watch on its own key. */
export interface OwnKeyListener {
  /** The key was deleted at `revision` (possibly an earlier key of the same name: compare revisions). */
  deleted(revision: bigint): void;
  /** The watch was down (reconnect, compaction, refusal) and is live again: re-read the key. */
  recheck(): void;
}

/** A listener's hold on an own-key watch. */
export interface OwnKeySubscription {
  /** Resolves with the store revision at which etcd registered the watch now serving the key. */
  readonly ready: Promise<bigint>;
  unsubscribe(): void;
}

/**
 * The watches a session keeps on its own keys, each shared by successive holds of the same key.
 *
 * A session's key for a name is always `<name>/<lease id>`, so taking the same lock again reuses
 * the key name. Its watch outlives one hold and serves the next: a deletion older than the new
 * hold's create revision belongs to an earlier hold and the entry ignores it. That saves a watch
 * creation and a cancellation per lock cycle (etcd3 also closes and reopens its watch stream when
 * its last watch goes), which the benchmark measured at about half a put per uncontended cycle.
 * An unused watch is cancelled after a few seconds, and all of them when the session ends.
 */
class OwnKeyWatches {
  private readonly watches = new Map<string, SharedWatch>();

  constructor(private readonly session: Session) {
    session.signal.addEventListener('abort', () => {
      for (const watch of this.watches.values()) watch.close();
      this.watches.clear();
    });
  }

  subscribe(key: string, listener: OwnKeyListener): OwnKeySubscription {
    let shared = this.watches.get(key);
    if (!shared) {
      shared = new SharedWatch(this.session, key, () => this.watches.delete(key));
      this.watches.set(key, shared);
    }
    return shared.subscribe(listener);
  }
}

class SharedWatch {
  private readonly listeners = new Set<OwnKeyListener>();
  private watch: KeyWatch;
  private lingering: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly session: Session,
    private readonly key: string,
    private readonly onClose: () => void,
  ) {
    this.watch = this.open();
  }

  subscribe(listener: OwnKeyListener): OwnKeySubscription {
    clearTimeout(this.lingering);
    this.listeners.add(listener);
    return {
      ready: this.watch.ready,
      unsubscribe: () => {
        if (!this.listeners.delete(listener) || this.listeners.size > 0 || this.closed) return;
        this.lingering = setTimeout(() => {
          this.close();
          this.onClose();
        }, LINGER_MS).unref();
      },
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.lingering);
    this.watch.cancel();
  }

  /** Watches from "now": a synced watch delivers a deletion at once (see watchDeletion). */
  private open(): KeyWatch {
    const watch = watchDeletion(this.session.client, this.key, undefined, (news, revision) => {
      if (this.closed || watch !== this.watch) return;
      if (news === 'deleted') {
        for (const listener of [...this.listeners]) listener.deleted(revision!);
        return;
      }
      // Reconnected or dead: events may have been missed. Watch again from now, then have the
      // listeners re-read their key.
      watch.cancel();
      this.renew(news === 'failed' ? this.failures + 1 : 0);
    });
    return watch;
  }

  private failures = 0;

  /** Opens a new watch, after a backoff if watches keep failing (e.g. refused for permission). */
  private renew(failures: number): void {
    this.failures = failures;
    const delay = failures === 0 ? 0 : Math.min(5000, 50 * 2 ** Math.min(failures, 7));
    setTimeout(() => {
      if (this.closed) return;
      const renewed = (this.watch = this.open());
      void renewed.ready.then(
        () => {
          if (renewed !== this.watch) return;
          this.failures = 0;
          for (const listener of [...this.listeners]) listener.recheck();
        },
        () => undefined,
      );
    }, delay).unref();
  }
}

const registries = new WeakMap<Session, OwnKeyWatches>();

/** Subscribes to the watch on `key`, one of `session`'s own keys, creating or reusing it. */
export function watchOwnKey(session: Session, key: string, listener: OwnKeyListener): OwnKeySubscription {
  let registry = registries.get(session);
  if (!registry) registries.set(session, (registry = new OwnKeyWatches(session)));
  return registry.subscribe(key, listener);
}
