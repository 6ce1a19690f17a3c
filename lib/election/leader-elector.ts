import { hostname } from 'node:os';
import type { IPolicy } from 'cockatiel';
import { EtcdLeaseInvalidError, Namespace } from 'etcd3';
import { Election } from './election.js';
import { InvalidArgumentError, PermissionDeniedError } from '../errors.js';
import { watchLeader, type LeaderInfo } from './observe.js';
import { validateValue, type Leadership } from './leadership.js';
import { defaultRetryPolicy, type CallContext } from '../etcd/call.js';
import { Session } from '../session/session.js';
import { validateName, validateTimeout, validateTtl } from '../util/validate.js';

/** Delay before campaigning again after a failure, doubled on each failure in a row up to the maximum. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

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

/** One start() … stop() of an elector. */
interface Run {
  readonly stopping: AbortController;
  session: Session | undefined;
  leadership: Leadership | undefined;
  loop: Promise<void> | undefined;
  observer: Promise<void> | undefined;
}

/**
 * Keeps a process in an election, the shape of Kubernetes client-go's `leaderelection` on etcd:
 * it campaigns, calls `onStartedLeading` with a signal that aborts when leadership is lost,
 * campaigns again after losing it (on a new session when the lease was lost), and on `stop()`
 * resigns so that a successor takes over in about one round trip instead of waiting out the TTL.
 * It owns its sessions, created from `client` with `ttl`. Failures are retried with a backoff
 * from 250 ms to 5 s and reported to `onError`.
 *
 * @example
 * ```ts
 * const elector = new LeaderElector({
 *   client, name: 'schedulers/billing', value: 'pod-a:8080', ttl: 10,
 *   onStartedLeading: async signal => { while (!signal.aborted) await runBillingOnce(signal); },
 *   onNewLeader: leader => console.log('leader:', leader?.value ?? 'none'),
 * });
 * await elector.start();
 * process.once('SIGTERM', () => void elector.stop());
 * ```
 */
export class LeaderElector {
  /** The election's name. */
  readonly name: string;
  /** The value this candidate proclaims. */
  readonly value: string;
  /** The lease TTL in seconds. */
  readonly ttl: number;

  private readonly client: Namespace;
  private readonly options: LeaderElectorOptions;
  private readonly ctx: CallContext;
  private run: Run | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  /** @throws {InvalidArgumentError} a missing or bad option; the message names it and its value. */
  constructor(options: LeaderElectorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', `LeaderElector needs an options object. Got: ${String(options)}`);
    }
    if (!(options.client instanceof Namespace)) {
      throw new InvalidArgumentError('client', `LeaderElector needs an etcd3 client or Namespace as client. Got: ${String(options.client)}`);
    }
    this.name = validateName(options.name);
    this.value = options.value === undefined ? `${hostname()}:${process.pid}` : validateValue(options.value);
    this.ttl = validateTtl(options.ttl ?? 15);
    validateCallback('onStartedLeading', options.onStartedLeading, true);
    validateCallback('onStoppedLeading', options.onStoppedLeading);
    validateCallback('onNewLeader', options.onNewLeader);
    validateCallback('onError', options.onError);
    const callTimeout = validateTimeout('callTimeout', options.callTimeout) ?? 5000;
    if (options.retryPolicy !== undefined && typeof options.retryPolicy?.execute !== 'function') {
      throw new InvalidArgumentError('retryPolicy', `retryPolicy must be a cockatiel policy. Got: ${String(options.retryPolicy)}`);
    }
    this.client = options.client;
    this.options = options;
    this.ctx = { policy: options.retryPolicy ?? defaultRetryPolicy(), callTimeout };
  }

  /** True while this candidate leads (a term started and its signal has not aborted). */
  get isLeader(): boolean {
    const leadership = this.run?.leadership;
    return leadership !== undefined && !leadership.signal.aborted;
  }

  /** The current term's leadership (fencing token, `ifLeader()`), or undefined when not leading. */
  get leadership(): Leadership | undefined {
    return this.isLeader ? this.run?.leadership : undefined;
  }

  /**
   * False while this candidate believes it leads but its lease's keepalive is overdue (no
   * acknowledgement for one and a half keepalive intervals): it may be about to lose leadership
   * without knowing. True otherwise. Wire it into `/healthz` so that an orchestrator restarts a
   * leader cut off from etcd.
   */
  healthy(): boolean {
    if (!this.isLeader) return true;
    return !(this.run?.session?.keepAliveOverdue ?? true);
  }

  /**
   * Creates the first session and starts campaigning (in the background: leadership comes through
   * `onStartedLeading`). Resolves once the session exists; a second call while running resolves
   * with the first.
   *
   * @throws {EtcdUnavailableError} etcd did not grant a lease within the session's timeout.
   * @throws {PermissionDeniedError} etcd refused the lease.
   */
  start(): Promise<void> {
    this.starting ??= this.startOnce().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /**
   * Leaves the election: stops campaigning, resigns if we lead (the next candidate takes over in
   * about one round trip; `onStartedLeading`'s signal aborts with reason `'released'`, then
   * `onStoppedLeading` is called), waits for `onStartedLeading` to return, stops observing and closes
   * the session (revoking its lease). Idempotent; after it resolves the elector can be started again.
   * It waits for `onStartedLeading` to return, so do not await it from inside that callback (call it
   * without awaiting, and return).
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async startOnce(): Promise<void> {
    await this.stopping;
    if (this.run) return;
    const run: Run = { stopping: new AbortController(), session: undefined, leadership: undefined, loop: undefined, observer: undefined };
    this.run = run;
    try {
      run.session = await this.newSession(run);
    } catch (error) {
      if (this.run === run) this.run = undefined;
      throw error;
    }
    run.loop = this.campaignLoop(run);
    if (this.options.onNewLeader) run.observer = this.observeLoop(run);
  }

  private async stopOnce(): Promise<void> {
    const reason = new Error(`LeaderElector for "${this.name}" stopped`);
    // Aborting first also cuts short a start() still waiting for its session.
    this.run?.stopping.abort(reason);
    await this.starting?.catch(() => undefined);
    const run = this.run;
    if (!run) return;
    run.stopping.abort(reason);
    const leadership = run.leadership;
    if (leadership && !leadership.signal.aborted) {
      await leadership.resign().catch(error => this.report(error));
    }
    await run.loop;
    await run.observer;
    await run.session?.close().catch(error => this.report(error));
    if (this.run === run) this.run = undefined;
  }

  private newSession(run: Run): Promise<Session> {
    return Session.create(this.client, {
      ttl: this.ttl,
      callTimeout: this.ctx.callTimeout,
      retryPolicy: this.ctx.policy,
      signal: run.stopping.signal,
    });
  }

  private async campaignLoop(run: Run): Promise<void> {
    const stopping = run.stopping.signal;
    let retryDelay = 0;
    let failures = 0;
    while (!stopping.aborted) {
      let session: Session | undefined;
      try {
        if (retryDelay > 0) await pause(retryDelay, stopping);
        if (!run.session || run.session.ended) {
          run.session?.close().catch(() => undefined);
          run.session = undefined;
          run.session = await this.newSession(run);
        }
        session = run.session;
        let leadership: Leadership;
        try {
          leadership = await new Election(session, this.name).campaign(this.value, { signal: stopping });
        } catch (error) {
          // The lease is gone (revoked or expired in etcd before our session noticed): new session.
          if (error instanceof EtcdLeaseInvalidError) {
            await session.close().catch(() => undefined);
          }
          throw error;
        }
        await this.lead(run, leadership);
        retryDelay = 0;
        failures = 0;
      } catch (error) {
        if (stopping.aborted) break;
        this.report(error);
        // The first failure after our lease was lost is retried at once, on a new session; anything
        // else (etcd unreachable, a failing onStartedLeading, repeated losses) backs off.
        failures++;
        const leaseLost = session !== undefined && session.ended && !(error instanceof LeadingFailed);
        retryDelay = leaseLost && failures === 1 ? 0 : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures - 1, 5));
      }
    }
  }

  /** One term: runs onStartedLeading until leadership ends, then cleans up. */
  private async lead(run: Run, leadership: Leadership): Promise<void> {
    const signal = leadership.signal;
    if (signal.aborted) {
      // Lost in the instant after our turn came: no term to start (nor to stop).
      await leadership.resign().catch(() => undefined);
      return;
    }
    run.leadership = leadership;
    let failure: unknown;
    const job = (async () => this.options.onStartedLeading(signal, leadership))().catch((error: unknown) => {
      if (signal.aborted) return;
      failure = error;
      // The leader's work failed: give someone else a chance.
      leadership.resign().catch(() => undefined);
    });
    await new Promise(resolve => {
      if (signal.aborted) resolve(undefined);
      else signal.addEventListener('abort', resolve, { once: true });
    });
    this.call('onStoppedLeading', () => this.options.onStoppedLeading?.());
    await job;
    // Frees our slot for the next campaign (a guarded no-op in etcd when the key is already gone).
    await leadership.resign().catch(() => undefined);
    if (run.leadership === leadership) run.leadership = undefined;
    if (failure !== undefined) throw new LeadingFailed(failure);
  }

  private async observeLoop(run: Run): Promise<void> {
    try {
      for await (const leader of watchLeader(this.client, this.ctx, this.name, run.stopping.signal)) {
        this.call('onNewLeader', () => this.options.onNewLeader?.(leader));
      }
    } catch (error) {
      this.report(error instanceof PermissionDeniedError ? error : asError(error));
    }
  }

  private call(name: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.report(new CallbackError(name, error));
    }
  }

  private report(error: unknown): void {
    const reported = error instanceof LeadingFailed ? new CallbackError('onStartedLeading', error.cause) : asError(error);
    try {
      if (this.options.onError) this.options.onError(reported);
      else process.emitWarning(reported);
    } catch {
      // onError itself failed: nowhere left to report.
    }
  }
}

/** onStartedLeading failed while we led; carried out of lead() to back off before campaigning. */
class LeadingFailed extends Error {
  constructor(cause: unknown) {
    super('onStartedLeading failed', { cause });
  }
}

/** A callback of the elector threw; `cause` is what it threw. */
class CallbackError extends Error {
  override readonly name = 'CallbackError';
  constructor(callback: string, cause: unknown) {
    super(`LeaderElector's ${callback} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function validateCallback(argument: string, fn: unknown, required = false): void {
  if (fn === undefined && !required) return;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(argument, `${argument} must be a function. Got: ${fn === null ? 'null' : typeof fn}`);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
