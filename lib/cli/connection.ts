import type { IOptions } from 'etcd3';
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
    description: 'fail when etcd does not answer within this (default: 5s)',
  },
} as const satisfies OptionSpecs;

/** How to reach etcd, as the flags and the environment say. */
export interface Connection {
  readonly endpoints: string[];
  /** How long to wait for etcd's first answer before failing (ms). */
  readonly dialTimeout: number;
  /** Options for `new Etcd3(...)`. */
  readonly clientOptions: IOptions;
}

/** The default endpoint, as `etcdctl`'s. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';

/**
 * Builds the connection from `--endpoints` (or `ETCD_ENDPOINTS`) and `--dial-timeout`.
 * @throws {UsageError} an empty or malformed endpoint, or a bad duration.
 */
export function connectionFrom(values: Values, env: NodeJS.ProcessEnv): Connection {
  const raw = stringValue(values.endpoints) ?? env.ETCD_ENDPOINTS ?? DEFAULT_ENDPOINT;
  const endpoints = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
    .map(normalizeEndpoint);
  if (endpoints.length === 0) throw new UsageError(`--endpoints needs at least one URL. Got: ${JSON.stringify(raw)}`);
  const dialTimeout = parseDuration('dial-timeout', stringValue(values['dial-timeout']) ?? '5s', 'ms');
  return { endpoints, dialTimeout, clientOptions: { hosts: endpoints } };
}

/** `host:port` → `http://host:port`; a URL must be http(s) with a host and port. */
function normalizeEndpoint(endpoint: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
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
