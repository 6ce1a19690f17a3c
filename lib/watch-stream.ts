import { EtcdInvalidAuthTokenError, type Namespace } from 'etcd3';

/**
 * The auth token a watch stream carries.
 *
 * etcd3 re-authenticates a unary call that etcd answers with "invalid auth token", but not a watch
 * stream: a stream keeps the token it was opened with for its whole life. Once etcd has forgotten
 * that token (a simple token unused for `--auth-token-ttl` seconds, or an expired JWT), etcd
 * cancels every watch created on that stream with "invalid auth token", and etcd3 reopens a broken
 * stream with its cached token, stale or not. So every new watch is opened on
 * {@link watchStream}`(client)`, and a watch refused for its token calls {@link renewWatchToken}:
 * etcd3 forgets the cached token, and later watches go on a new stream, opened with a new token.
 * Watches already registered on the old stream keep working (etcd checks the token only when a
 * watch is created).
 */
const streams = new WeakMap<Namespace, Namespace>();

/** The namespace whose watch stream new watches on `client` should use. */
export function watchStream(client: Namespace): Namespace {
  return streams.get(client) ?? client;
}

/** Whether etcd refused a watch (or call) because the token it carried is no longer valid. */
export function isStaleToken(error: unknown): boolean {
  return (
    error instanceof EtcdInvalidAuthTokenError ||
    (error instanceof Error && error.message.includes('etcdserver: revision of auth store is old'))
  );
}

/**
 * After etcd refused a watch on `refusedOn` for a stale token: makes etcd3 fetch a new token for
 * its next call, and moves later watches on `client` to a new stream. Idempotent per stream.
 */
export function renewWatchToken(client: Namespace, refusedOn: Namespace): void {
  if (watchStream(client) !== refusedOn) return;
  forgetToken(client);
  // Same prefix and connection pool, but a watch manager (and so a stream) of its own.
  streams.set(client, client.namespace(''));
}

/** etcd3 1.1.x keeps its token in `pool.authenticator`; no public call makes it re-authenticate. */
interface WithAuthenticator {
  pool?: { authenticator?: { invalidateMetadata?: () => void } };
}

function forgetToken(client: Namespace): void {
  (client as unknown as WithAuthenticator).pool?.authenticator?.invalidateMetadata?.();
}
