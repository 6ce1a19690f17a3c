import { createRequire } from 'node:module';
import type { IOptions, Namespace } from 'etcd3';

/**
 * Every access to etcd3's private state, in one place, checked.
 *
 * The library talks to each etcd member itself: it picks the member for each attempt, avoids one
 * that stopped answering, and opens its watch and keepalive streams where it chooses. etcd3 has no
 * public way to do that (its pool sends each call to a random member and resets every stream on a
 * member after one failed call), so this module reaches into etcd3 1.x for three things:
 *
 * - `pool.hosts[i].host` and `pool.hosts[i].getServiceClient(service)`: the gRPC client of one
 *   member, built with the user's TLS credentials and channel options, and
 *   `pool.hosts[i].resetAllServices()` to drop a connection that died silently;
 * - `pool.authenticator.getMetadata()`: the auth token etcd3 obtained (an empty metadata without auth);
 * - `pool.authenticator.invalidateMetadata()`: forget a token etcd no longer accepts.
 *
 * The shapes are checked the first time a client is used. If they are not there (a future etcd3),
 * the library warns once (`process.emitWarning` with code {@link WARNING_CODE}) and falls back to
 * etcd3's public API: every call still works, but the choice of member is etcd3's, so riding through
 * a frozen member is left to etcd3's circuit breakers (see `resilientClientOptions()`).
 */

/** The `code` of the warning emitted once when etcd3's internals are not as expected. */
export const WARNING_CODE = 'ETCD_CONCURRENCY_ETCD3_INTERNALS';

/** The etcd3 versions whose internals are known to have the expected shape. */
export const SUPPORTED_ETCD3 = '>=1.1.0 <2.0.0';

/** The gRPC services the library calls. */
export type Service = 'KV' | 'Lease' | 'Watch' | 'Maintenance';

/** A bidirectional gRPC stream (grpc-js `ClientDuplexStream`, or etcd3's wrapper of one). */
export interface DuplexStream<Req, Res> {
  write(request: Req): unknown;
  cancel(): void;
  end(): unknown;
  on(event: 'data', listener: (response: Res) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  removeAllListeners(): unknown;
}

/** One etcd member as the library talks to it, or etcd3's whole pool when the internals are not usable. */
export interface Endpoint {
  /** The member's address (`host:port`), or `'etcd3'` for the pool as a whole. */
  readonly id: string;
  /** Calls a unary RPC with the given deadline (epoch ms). Rejects with the gRPC error, its `code` kept. */
  unary<T>(service: Service, method: string, request: unknown, deadline: number): Promise<T>;
  /** Opens a bidirectional stream (`Watch.watch`, `Lease.leaseKeepAlive`). */
  stream<Req, Res>(service: Service, method: string): Promise<DuplexStream<Req, Res>>;
  /**
   * Drops the member's gRPC channels, so the next call or stream dials a new connection: for a
   * connection that died without a word (a NAT or proxy that dropped it), which gRPC would otherwise
   * keep using until its keepalive gives up, if it has one. etcd3 does the same after a failed call.
   */
  reset(): void;
}

/** How the library reaches etcd through one etcd3 client. */
export interface Transport {
  /** One endpoint per member when `direct`, else the single pool endpoint. */
  readonly endpoints: readonly Endpoint[];
  /** Whether the library picks members itself. */
  readonly direct: boolean;
  /** Makes etcd3 authenticate again on the next call (a token etcd no longer accepts). */
  invalidateToken(): void;
  /** An object unique to the client's connection pool: clients sharing a pool share the transport. */
  readonly key: object;
}

interface GrpcServiceClient {
  [method: string]: unknown;
}

interface PoolShape {
  hosts: { host: string; getServiceClient(name: string): GrpcServiceClient; resetAllServices(): void }[];
  authenticator: { getMetadata(): Promise<unknown>; invalidateMetadata(): void };
}

/** Where a member's unary method takes (request, metadata, options, callback). */
type UnaryMethod = (request: unknown, metadata: unknown, options: { deadline: number }, callback: (error: Error | null, response: unknown) => void) => void;
type StreamMethod = (metadata: unknown, options: object) => DuplexStream<unknown, unknown>;

const transports = new WeakMap<object, Transport>();
let warned = false;

/** The transport of `client`, made on first use; checks etcd3's internals then. */
export function transportOf(client: Namespace): Transport {
  const pool = (client as unknown as { pool?: unknown }).pool;
  const key = typeof pool === 'object' && pool !== null ? pool : client;
  let transport = transports.get(key);
  if (!transport) {
    const problem = shapeProblem(pool);
    if (problem !== undefined) warnOnce(problem);
    transport = problem === undefined ? directTransport(pool as PoolShape) : poolTransport(client);
    transports.set(key, transport);
  }
  return transport;
}

/** What is missing from etcd3's pool, or undefined when it has the shape the library relies on. */
export function shapeProblem(pool: unknown): string | undefined {
  const p = pool as Partial<PoolShape> | undefined;
  if (typeof p !== 'object' || p === null) return 'the client has no connection pool (`pool`)';
  if (!Array.isArray(p.hosts) || p.hosts.length === 0) return '`pool.hosts` is not a list of hosts';
  for (const host of p.hosts) {
    if (typeof host?.host !== 'string' || typeof host.getServiceClient !== 'function' || typeof host.resetAllServices !== 'function') {
      return 'a host has no `host`, `getServiceClient()` or `resetAllServices()`';
    }
  }
  const auth = p.authenticator;
  if (typeof auth?.getMetadata !== 'function' || typeof auth.invalidateMetadata !== 'function') {
    return '`pool.authenticator` has no `getMetadata()` or `invalidateMetadata()`';
  }
  return undefined;
}

function warnOnce(problem: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `etcd-concurrency: etcd3 ${etcd3Version()} is not shaped as expected (${problem}); supported: ${SUPPORTED_ETCD3}. ` +
      'Falling back to etcd3’s public API: locks work, but a frozen etcd member is ridden out only as well as etcd3’s own retries allow.',
    { code: WARNING_CODE },
  );
}

/** The installed etcd3's version, as its package.json says. */
export function etcd3Version(): string {
  try {
    return (createRequire(import.meta.url)('etcd3/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function directTransport(pool: PoolShape): Transport {
  const metadata = (): Promise<unknown> => pool.authenticator.getMetadata();
  const endpoints = pool.hosts.map(
    (host): Endpoint => ({
      id: host.host,
      async unary<T>(service: Service, method: string, request: unknown, deadline: number): Promise<T> {
        const meta = await metadata();
        const client = host.getServiceClient(service);
        const fn = client[method] as UnaryMethod;
        return new Promise<T>((resolve, reject) => {
          fn.call(client, request, meta, { deadline }, (error, response) => (error ? reject(error) : resolve(response as T)));
        });
      },
      async stream<Req, Res>(service: Service, method: string): Promise<DuplexStream<Req, Res>> {
        const meta = await metadata();
        const client = host.getServiceClient(service);
        return (client[method] as StreamMethod).call(client, meta, {}) as DuplexStream<Req, Res>;
      },
      reset: () => host.resetAllServices(),
    }),
  );
  return { endpoints, direct: true, key: pool, invalidateToken: () => pool.authenticator.invalidateMetadata() };
}

/** The public-API fallback: etcd3 picks the member of every call and stream. */
function poolTransport(client: Namespace): Transport {
  const services = {
    KV: client.kv,
    Lease: client.leaseClient,
    Watch: client.watchClient,
    Maintenance: (client as unknown as { maintenance: unknown }).maintenance,
  } as unknown as Record<Service, Record<string, (...args: unknown[]) => Promise<unknown>>>;
  const endpoint: Endpoint = {
    id: 'etcd3',
    unary<T>(service: Service, method: string, request: unknown, deadline: number): Promise<T> {
      return services[service][method]!.call(services[service], request, { deadline }) as Promise<T>;
    },
    stream<Req, Res>(service: Service, method: string): Promise<DuplexStream<Req, Res>> {
      return services[service][method]!.call(services[service]) as Promise<DuplexStream<Req, Res>>;
    },
    reset: () => undefined,
  };
  return { endpoints: [endpoint], direct: false, key: client, invalidateToken: () => undefined };
}

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/** etcd3 passes a cockatiel backoff as `watchBackoff`, but its typings name an older cockatiel's type. */
export function asWatchBackoff(backoff: unknown): WatchBackoff {
  return backoff as WatchBackoff;
}

/** Ends a stream we no longer want, without its cancellation surfacing as an unhandled 'error'. */
export function discardStream(stream: DuplexStream<unknown, unknown>): void {
  stream.removeAllListeners();
  stream.on('error', () => undefined);
  try {
    stream.cancel();
  } catch {
    // already closed
  }
}
