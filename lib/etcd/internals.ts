import { EtcdInvalidAuthTokenError, type Namespace } from 'etcd3';

/**
 * Recovery of an etcd3 watch stream after etcd refused a watch as it created it.
 *
 * etcd3 sends the create requests of one stream's watches one at a time, each after the answer to
 * the previous one. When etcd refuses a creation (a role without read permission on the key, or an
 * auth token etcd no longer knows), etcd3 reports the error to that watcher but never sends the
 * next create request: every later watch on the stream waits forever, and so does every lock
 * waiter and observer behind it (measured with etcd3 1.1.2 and etcd 3.4.23: after a refused watch
 * on `app2/`, a permitted waiter on `app1/` never heard its predecessor go).
 *
 * A stream also keeps the auth token it was opened with. etcd3 re-authenticates a unary call that
 * etcd answers with "invalid auth token", never a stream: once etcd forgets the token (a simple
 * token unused for `--auth-token-ttl` seconds, an expired JWT, a restarted member), every watch
 * created on the stream, including those etcd3 re-creates after a reconnect, is refused.
 *
 * {@link recoverWatchStream} undoes both: it makes etcd3 forget a stale token, then breaks the
 * stream, so that etcd3 reconnects it (with a fresh token) and registers every live watcher on it
 * again; each of them sees `disconnected` and `connected` again, as after any reconnect.
 */

/** Whether etcd refused a watch (or call) because the token it carried is no longer valid. */
export function isStaleToken(error: unknown): boolean {
  return (
    error instanceof EtcdInvalidAuthTokenError ||
    (error instanceof Error && error.message.includes('etcdserver: revision of auth store is old'))
  );
}

/**
 * Call when a watcher opened on `client` fails while it is not registered (before its first
 * `connected`, or between a `disconnected` and the next `connected`): etcd refused its creation.
 * Reaches into etcd3 1.1.x, which offers no public way to do either step; if its internals change,
 * this does nothing.
 */
export function recoverWatchStream(client: Namespace, error: unknown): void {
  const internals = client as unknown as Etcd3Internals;
  if (isStaleToken(error)) internals.pool?.authenticator?.invalidateMetadata?.();
  const manager = internals.watchManager;
  // State 2 is "connected": there is a stream (and a stalled create queue) to break.
  if (manager?.state === 2) manager.stream?.cancel?.();
}

/** The parts of etcd3 1.1.x's Namespace used here. */
interface Etcd3Internals {
  pool?: { authenticator?: { invalidateMetadata?: () => void } };
  watchManager?: { state?: number; stream?: { cancel?: () => void } };
}
