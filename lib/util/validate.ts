import { InvalidArgumentError } from '../errors.js';

/** etcd's default `--max-request-bytes` (1.5 MiB); a key or value near it cannot be written. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/**
 * Longest lock or election name, in UTF-8 bytes (64 KiB). Joining a queue sends the name about five
 * times in one transaction (compare, put, the range of the prefix and its end, the fallback read),
 * next to an election value of up to `MAX_REQUEST_BYTES / 2`: with this bound the request stays
 * under etcd's default `--max-request-bytes`. A request over gRPC's limit is not even refused
 * cleanly: etcd3 retries it as a transient failure and opens its circuit breaker.
 */
export const MAX_NAME_BYTES = 64 * 1024;

/**
 * Longest lease TTL, in seconds: 2 147 483 (24.8 days). etcd itself grants up to 9 000 000 000
 * (`MaxLeaseTTL`), but a session arms a Node timer for the lease's deadline, and Node's timers
 * cannot wait longer than 2^31 - 1 ms: they fire at once instead, and the session would report its
 * lease lost the moment it was granted.
 */
export const MAX_TTL_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Checks a lock or election name: a non-empty string of at most {@link MAX_NAME_BYTES} UTF-8 bytes
 * that survives the trip to etcd and back (no lone UTF-16 surrogate: `"\uD800"` and `"\uDBFF"`
 * would both be stored as U+FFFD, the same key). Any other character is fine, slashes, spaces, `%`
 * and NUL included: the name is only ever a key prefix, never parsed.
 */
export function validateName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', `A lock or election name must be a non-empty string. Got: ${show(name)}`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new InvalidArgumentError('name', `A lock or election name must be at most ${MAX_NAME_BYTES} bytes of UTF-8. Got: ${bytes} bytes`);
  }
  if (Buffer.from(name).toString() !== name) {
    throw new InvalidArgumentError('name', `A lock or election name must be well-formed Unicode (no lone surrogate). Got: ${show(name)}`);
  }
  return name;
}

/**
 * Checks a lease TTL in seconds: a whole number from 1 to {@link MAX_TTL_SECONDS}. etcd raises a TTL
 * below its minimum (2 s with the default `--election-timeout`) to that minimum; the session reads
 * the TTL etcd granted.
 */
export function validateTtl(ttl: unknown): number {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError('ttl', `The TTL of a lease must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}. Got: ${show(ttl)}`);
  }
  return ttl;
}

/**
 * Longest timeout, in ms: 2^31 - 1 (24.8 days), the longest a Node timer can wait. A longer one
 * would fire at once. Leave the timeout out to wait without limit.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Checks an optional duration in milliseconds: a number from 0 to {@link MAX_TIMEOUT_MS} (or undefined: no limit). */
export function validateTimeout(argument: string, ms: unknown): number | undefined {
  if (ms === undefined) return undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(argument, `${argument} must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}. Got: ${show(ms)}`);
  }
  return ms;
}

/** Checks an optional AbortSignal. */
export function validateSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new InvalidArgumentError('signal', `signal must be an AbortSignal. Got: ${show(signal)}`);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}

/**
 * Checks an etcd3 client (`Etcd3`) or `Namespace` by its shape, not its class: with two copies of
 * etcd3 installed (the application's and this library's), `instanceof` would refuse a good client.
 */
export function validateClient(client: unknown): void {
  const c = client as { prefix?: unknown; kv?: { txn?: unknown }; leaseClient?: { leaseGrant?: unknown }; watchClient?: { watch?: unknown } } | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    !Buffer.isBuffer(c.prefix) ||
    typeof c.kv?.txn !== 'function' ||
    typeof c.leaseClient?.leaseGrant !== 'function' ||
    typeof c.watchClient?.watch !== 'function'
  ) {
    throw new InvalidArgumentError('client', `An etcd3 client (Etcd3) or Namespace is needed. Got: ${show(client)}`);
  }
}
