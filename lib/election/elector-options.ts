import type { IPolicy } from 'cockatiel';
import type { Namespace } from 'etcd3';
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { validateClient, validateName, validateTimeout, validateTtl } from '../util/validate.js';
import { validateValue, type Leadership } from './leadership.js';
import type { LeaderInfo } from './observe.js';

/** Options of {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /**
   * The etcd3 client (or `Namespace`) to campaign through. It carries the endpoints, TLS and
   * authentication settings. Required.
   */
  client: Namespace;
  /** The election's name; its keys live under `name + '/'`. Required. */
  name: string;
  /**
   * This candidate's identity, the value it proclaims while it leads and that `onNewLeader` shows
   * everyone, e.g. `pod-a:8080`. Default: `<hostname>:<pid>`.
   */
  value?: string;
  /**
   * Lease TTL in seconds, a whole number ≥ 1: after this process dies without stopping, a successor
   * takes over within about this long. Default: `15` (client-go's `LeaseDuration`).
   */
  ttl?: number;
  /**
   * Called each time this candidate becomes the leader. Do the leader's work here and return when
   * `signal` aborts: it aborts (with an {@link OwnershipLostError}) the moment leadership is lost or
   * given up. The elector does not campaign again until the returned promise has settled, so two
   * terms never overlap in one process. If it throws while we still lead, the elector reports the
   * error to `onError`, resigns, and campaigns again after a backoff. `leadership` gives the
   * fencing token and `ifLeader()` for guarded writes. Required.
   */
  onStartedLeading: (signal: AbortSignal, leadership: Leadership) => void | Promise<void>;
  /**
   * Called each time a term of ours ends (lease lost, key deleted, `stop()`), right after the
   * signal given to `onStartedLeading` aborted. Default: none.
   */
  onStoppedLeading?: () => void;
  /**
   * Called with the leader whenever it changes (another candidate, us, a new proclaimed value), or
   * `undefined` when there is none; first with the leader found at `start()`. Observed
   * independently of campaigning, so its calls are not ordered with the other two callbacks.
   * Default: none.
   */
  onNewLeader?: (leader: LeaderInfo | undefined) => void;
  /**
   * Called with failures the elector recovers from by itself (etcd unreachable, a lost lease, a
   * throwing callback) and with the error that ends its observation of the leader (permission
   * denied). Default: `process.emitWarning(error)`.
   */
  onError?: (error: Error) => void;
  /** Deadline of each single etcd call, ms (passed to the `Session`). Default: `5000`. */
  callTimeout?: number;
  /**
   * cockatiel policy wrapped around each etcd call (passed to the `Session`). Default:
   * {@link defaultRetryPolicy} (transient errors only, exponential backoff with jitter).
   */
  retryPolicy?: IPolicy;
}

/** The options of an elector, checked, with their defaults filled in. */
export interface ElectorSettings {
  readonly client: Namespace;
  readonly name: string;
  readonly value: string;
  readonly ttl: number;
  readonly callTimeout: number;
  readonly retryPolicy: IPolicy | undefined;
}

/** Checks {@link LeaderElectorOptions} up front. @throws {InvalidArgumentError} naming the bad option and its value. */
export function electorSettings(options: LeaderElectorOptions): ElectorSettings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `LeaderElector needs an options object. Got: ${String(options)}`);
  }
  try {
    validateClient(options.client);
  } catch {
    throw new InvalidArgumentError('client', `LeaderElector needs an etcd3 client or Namespace as client. Got: ${String(options.client)}`);
  }
  const name = validateName(options.name);
  const value = options.value === undefined ? `${hostname()}:${process.pid}` : validateValue(options.value);
  const ttl = validateTtl(options.ttl ?? 15);
  validateCallback('onStartedLeading', options.onStartedLeading, true);
  validateCallback('onStoppedLeading', options.onStoppedLeading);
  validateCallback('onNewLeader', options.onNewLeader);
  validateCallback('onError', options.onError);
  const callTimeout = validateTimeout('callTimeout', options.callTimeout) ?? 5000;
  if (options.retryPolicy !== undefined && typeof options.retryPolicy?.execute !== 'function') {
    throw new InvalidArgumentError('retryPolicy', `retryPolicy must be a cockatiel policy. Got: ${String(options.retryPolicy)}`);
  }
  return { client: options.client, name, value, ttl, callTimeout, retryPolicy: options.retryPolicy };
}

function validateCallback(argument: string, fn: unknown, required = false): void {
  if (fn === undefined && !required) return;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(argument, `${argument} must be a function. Got: ${fn === null ? 'null' : typeof fn}`);
  }
}
