import { InvalidArgumentError } from './errors.js';

/** etcd's default `--max-request-bytes` (1.5 MiB); a key or value near it cannot be written. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Longest TTL etcd grants, in seconds (`MaxLeaseTTL` in etcd's lessor). */
export const MAX_TTL_SECONDS = 9_000_000_000;

/** Checks a lock or election name: a non-empty string that fits in an etcd request. */
export function validateName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('name', `A lock or election name must be a non-empty string. Got: ${show(name)}`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_REQUEST_BYTES / 2) {
    throw new InvalidArgumentError('name', `A lock or election name must be at most ${MAX_REQUEST_BYTES / 2} bytes. Got: ${bytes} bytes`);
  }
  return name;
}

/** Checks a lease TTL in seconds: a whole number from 1 to etcd's maximum. */
export function validateTtl(ttl: unknown): number {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError('ttl', `The TTL of a session must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}. Got: ${show(ttl)}`);
  }
  return ttl;
}

/** Checks an optional duration in milliseconds: a finite number ≥ 0 (or undefined: no limit). */
export function validateTimeout(argument: string, ms: unknown): number | undefined {
  if (ms === undefined) return undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(argument, `${argument} must be a finite number of milliseconds ≥ 0. Got: ${show(ms)}`);
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
