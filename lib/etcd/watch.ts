import { ClientRuntimeError, type Namespace, type Watcher } from 'etcd3';
import { isStaleToken, recoverWatchStream } from './internals.js';

/**
 * A watch that etcd has not registered this many ms after it was opened (or after its stream
 * dropped) is stuck: its stream went to a member that accepts connections but answers nothing (a
 * frozen process, a dead path behind a proxy). gRPC has no timeout for that handshake and its
 * keepalive only watches established connections, so the stream would wait as long as the member
 * does. Breaking it makes etcd3 count a failure against that member and reconnect, soon elsewhere.
 */
const REGISTER_TIMEOUT_MS = 3000;

/** When a watch on each client's stream was last registered or delivered an event (monotonic ms). */
const streamProgress = new WeakMap<Namespace, number>();

/** etcd3 watch managers already guarded by {@link guardWatchManager}. */
const guarded = new WeakSet<object>();

/**
 * etcd3's watch manager throws a `ClientRuntimeError` from inside its stream's data handler when an
 * answer names a watch it no longer knows, which is an uncaught exception: the process dies. The
 * checker saw it once ("Failed to find watcher for IWatchResponse", a client under faults), likely
 * an answer that came on a stream after etcd3 had reset its watches for a reconnect. Catch that,
 * and break the stream: every watch registers again, and ours read etcd again, as after any
 * reconnect. Reaches into etcd3 1.1.x; if its internals change, this does nothing.
 */
function guardWatchManager(client: Namespace): void {
  const manager = (client as unknown as { watchManager?: Record<string, unknown> }).watchManager;
  if (!manager || guarded.has(manager)) return;
  guarded.add(manager);
  for (const method of ['handleResponse', 'handleCreatedResponse']) {
    const original = manager[method];
    if (typeof original !== 'function') continue;
    manager[method] = function (this: unknown, ...args: unknown[]): unknown {
      try {
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } catch (error) {
        if (!(error instanceof ClientRuntimeError)) throw error;
        recoverWatchStream(client, error);
        return undefined;
      }
    };
  }
}

/** Why a key watch asks its owner to look at etcd again. */
export type WatchNews =
  /** The key was deleted. */
  | 'deleted'
  /** The watch was cancelled by etcd (e.g. its revision was compacted) and is dead. */
  | 'failed'
  /** The watch stream reconnected: events may have been missed while it was down. */
  | 'reconnected';

/**
 * A watch on the deletion of one key. `ready` resolves once etcd has registered the watch, so any
 * deletion after that point is delivered; `news` resolves at the first thing worth re-reading etcd for.
 */
export interface KeyWatch {
  /** Resolves with the store revision at which etcd registered the watch. */
  readonly ready: Promise<bigint>;
  readonly news: Promise<WatchNews>;
  /**
   * The revision of the deletion, once `news` is `'deleted'`. The watch's member may lag the member
   * that answered a write, so a watch "from now" can still deliver a deletion older than a key
   * of the same name created since: compare this with that key's create revision.
   */
  readonly deletedAt: bigint | undefined;
  cancel(): void;
}

/**
 * Watches `key` for deletion. Without `startRevision` the watch starts "now": etcd registers it as a
 * synced watcher and delivers a deletion at once, instead of from the catch-up loop that serves
 * watches starting in the past (every 100 ms). Callers re-read etcd after `ready` to close the gap.
 */
export function watchDeletion(
  client: Namespace,
  key: string,
  startRevision?: bigint,
  /**
   * Called for every piece of news, not only the first (which resolves `news`), with the
   * deletion's revision for `'deleted'`: for a watch that outlives one deletion.
   */
  onEach?: (news: WatchNews, revision?: bigint) => void,
): KeyWatch {
  guardWatchManager(client);
  let watcher: Watcher;
  let cancelled = false;
  let connected = false;
  let registered = false;
  let renewals = 0;
  let watchdog: NodeJS.Timeout | undefined;
  const armWatchdog = (since = performance.now()): void => {
    clearTimeout(watchdog);
    const last = Math.max(since, streamProgress.get(client) ?? 0);
    watchdog = setTimeout(() => {
      if (registered || cancelled) return;
      // etcd3 registers a stream's watches one at a time: behind hundreds of others a watch can
      // wait seconds for its turn on a healthy stream. Only a stream that made no progress at all
      // (no watch registered, no event) for the whole period is stuck.
      if ((streamProgress.get(client) ?? 0) > last) return armWatchdog(since);
      recoverWatchStream(client, new Error(`the watch on ${key} was not registered within ${REGISTER_TIMEOUT_MS} ms`));
      armWatchdog();
    }, Math.max(0, last + REGISTER_TIMEOUT_MS - performance.now())).unref();
  };
  let onReady!: (revision: bigint) => void;
  let onReadyFailed!: (error: Error) => void;
  const ready = new Promise<bigint>((resolve, reject) => {
    onReady = resolve;
    onReadyFailed = reject;
  });
  ready.catch(() => undefined);
  let deletedAt: bigint | undefined;
  let onNews!: (news: WatchNews) => void;
  const news = new Promise<WatchNews>(resolve => (onNews = resolve));
  const open = (): void => {
    const builder = client.watch().key(key).only('delete');
    if (startRevision !== undefined) builder.startRevision(startRevision.toString());
    watcher = builder.watcher();
    armWatchdog();
    watcher.on('connected', res => {
      streamProgress.set(client, performance.now());
      if (connected) {
        onNews('reconnected');
        onEach?.('reconnected');
      }
      connected = registered = true;
      onReady(BigInt(res.header.revision));
    });
    watcher.on('delete', kv => {
      streamProgress.set(client, performance.now());
      const revision = BigInt(kv.mod_revision);
      deletedAt ??= revision;
      onNews('deleted');
      onEach?.('deleted', revision);
    });
    watcher.on('disconnected', () => {
      registered = false;
      armWatchdog();
    });
    watcher.on('error', error => {
      if (!registered) {
        // etcd refused to create the watch, and etcd3 then stalls the stream's other watches.
        recoverWatchStream(client, error);
        // Refused for an expired auth token: the stream reconnects with a new one; watch again.
        if (isStaleToken(error) && !connected && !cancelled && ++renewals <= 3) return open();
      }
      clearTimeout(watchdog);
      onReadyFailed(error);
      onNews('failed');
      onEach?.('failed');
    });
  };
  open();
  return {
    ready,
    news,
    get deletedAt() {
      return deletedAt;
    },
    cancel() {
      if (cancelled) return;
      cancelled = true;
      clearTimeout(watchdog);
      watcher.cancel().catch(() => undefined);
    },
  };
}
