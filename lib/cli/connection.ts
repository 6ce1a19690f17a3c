import type { IOptions } from 'etcd3';
import { connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions } from '../index.js';
import { UsageError, parseDuration, type OptionSpecs, type Values } from './args.js';

/**
 * The flags that say how to reach etcd, shared by every command. This file is the one place that
 * turns them into etcd3 client options: connection flags (TLS, authentication) belong here.
 */
export const connectionOptions = {
  endpoints: {
    type: 'string',
    value: 'URLS',
    description: 'comma-separated etcd endpoints (default: $ETCD_ENDPOINTS, else http://127.0.0.1:2379)',
  },
  'dial-timeout': {
    type: 'string',
    value: 'DURATION',
    description: 'fail when etcd does not answer within this; also the limit of each call to etcd (default: 5s)',
  },
  cacert: {
    type: 'string',
    value: 'FILE',
    description: "CA bundle that signed etcd's certificate; turns TLS on (default: $ETCDCTL_CACERT)",
  },
  cert: { type: 'string', value: 'FILE', description: 'client certificate for TLS (default: $ETCDCTL_CERT)' },
  key: { type: 'string', value: 'FILE', description: "the client certificate's private key (default: $ETCDCTL_KEY)" },
  user: { type: 'string', value: 'NAME[:PASSWORD]', description: 'etcd user (default: $ETCDCTL_USER)' },
  password: {
    type: 'string',
    value: 'PASSWORD',
    description: "the etcd user's password (default: $ETCDCTL_PASSWORD, which other users cannot see in ps)",
  },
} as const satisfies OptionSpecs;

/** How to reach etcd, as the flags and the environment say. */
export interface Connection {
  readonly endpoints: string[];
  /**
   * How long to wait for etcd's first answer before failing (ms). Also the CLI's call timeout: the
   * limit of each call its session makes (retries included), and the deadline of the client's own calls.
   */
  readonly dialTimeout: number;
  /** Options for `new Etcd3(...)`: {@link resilientClientOptions}, with `dialTimeout` as the deadline of unary calls. */
  readonly clientOptions: IOptions;
}

/** The default endpoint, as `etcdctl`'s. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';

/**
 * Builds the connection from `--endpoints` (or `ETCD_ENDPOINTS`), `--dial-timeout`, and the TLS and
 * auth flags with etcdctl's names (`--cacert`, `--cert`, `--key`, `--user`, `--password`, else
 * etcdctl's `ETCDCTL_*` variables), turned into etcd3 options by {@link etcdClientOptions} and made
 * to ride out faults by {@link resilientClientOptions} (gRPC keepalive, a member breaker of 1 s, no
 * blind retries inside etcd3), as the README says the library needs.
 * @throws {UsageError} an empty or malformed endpoint, or a bad duration.
 * @throws {InvalidArgumentError} a certificate without its key, a password without a user, an
 * unreadable certificate or key file.
 */
export function connectionFrom(values: Values, env: NodeJS.ProcessEnv): Connection {
  const fromEnv = connectionSettingsFromEnv(env);
  const settings = {
    caFile: stringValue(values.cacert) ?? fromEnv.caFile,
    certFile: stringValue(values.cert) ?? fromEnv.certFile,
    keyFile: stringValue(values.key) ?? fromEnv.keyFile,
    username: stringValue(values.user) ?? fromEnv.username,
    password: stringValue(values.password) ?? fromEnv.password,
  };
  const tls = settings.caFile !== undefined || settings.certFile !== undefined;
  const raw = stringValue(values.endpoints) ?? (fromEnv.endpoints as string | undefined) ?? DEFAULT_ENDPOINT;
  const endpoints = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
    .map(e => normalizeEndpoint(e, tls));
  if (endpoints.length === 0) throw new UsageError(`--endpoints needs at least one URL. Got: ${JSON.stringify(raw)}`);
  const dialText = stringValue(values['dial-timeout']) ?? '5s';
  const dialTimeout = parseDuration('dial-timeout', dialText);
  if (dialTimeout <= 0) throw new UsageError(`--dial-timeout must be longer than 0. Got: ${JSON.stringify(dialText)}`);
  const clientOptions = resilientClientOptions({
    ...etcdClientOptions({ ...settings, endpoints }),
    defaultCallOptions: context => (context.isStream ? {} : { deadline: Date.now() + dialTimeout }),
  });
  return { endpoints, dialTimeout, clientOptions };
}

/** `host:port` → `http://host:port` (`https://` with TLS settings); a URL must be http(s) with a host and port. */
function normalizeEndpoint(endpoint: string, tls: boolean): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `${tls ? 'https' : 'http'}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`not an etcd endpoint: ${JSON.stringify(endpoint)} (expected e.g. http://127.0.0.1:2379)`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new UsageError(`not an etcd endpoint: ${JSON.stringify(endpoint)} (expected e.g. http://127.0.0.1:2379)`);
  }
  return `${url.protocol}//${url.host}`;
}

function stringValue(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
