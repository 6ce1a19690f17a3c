import { CallbackError, ElectorStoppedError, PermissionDeniedError } from '../errors.js';
import { sharedDefaultPolicy, type CallContext } from '../etcd/call.js';
import { isLeaseGone } from '../etcd/classify.js';
import { Session } from '../session/session.js';
import { pause } from '../util/abort.js';
import { Backoff } from '../util/backoff.js';
import { electorSettings, type ElectorSettings, type LeaderElectorOptions } from './elector-options.js';
import { Election } from './election.js';
import type { Leadership } from './leadership.js';
import { watchLeader } from './observe.js';

export type { LeaderElectorOptions } from './elector-options.js';

/** Delay before campaigning again after a failure: from 250 ms, growing with each failure in a row, to 5 s. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

/** What one start() … stop() of an elector is doing. */
type Phase =
  /** Getting a session (the first, or a new one after the lease was lost). */
  | { readonly kind: 'connecting' }
  /** Waiting for our turn in the election. */
  | { readonly kind: 'campaigning'; readonly session: Session }
  /** Leading: `onStartedLeading` runs until `leadership.signal` aborts. */
  | { readonly kind: 'leading'; readonly session: Session; readonly leadership: Leadership }
  /** Waiting before campaigning again after a failure. */
  | { readonly kind: 'backing-off'; readonly session: Session | undefined };

/** One start() … stop(): its phase, and what stop() waits for. */
interface Run {
  readonly stopping: AbortController;
  phase: Phase;
  session: Session | undefined;
  loop: Promise<void> | undefined;
  observer: Promise<void> | undefined;
}

/** The elector's lifecycle. */
type State =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting'; readonly run: Run; readonly started: Promise<void> }
  | { readonly kind: 'running'; readonly run: Run }
  | { readonly kind: 'stopping'; readonly run: Run | undefined; readonly stopped: Promise<void> };

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

  private readonly settings: ElectorSettings;
  private readonly options: LeaderElectorOptions;
  private readonly ctx: CallContext;
  private state: State = { kind: 'idle' };

  /** @throws {InvalidArgumentError} a missing or bad option; the message names it and its value. */
  constructor(options: LeaderElectorOptions) {
    this.settings = electorSettings(options);
    this.options = options;
    this.name = this.settings.name;
    this.value = this.settings.value;
    this.ttl = this.settings.ttl;
    this.ctx = { policy: this.settings.retryPolicy ?? sharedDefaultPolicy, callTimeout: this.settings.callTimeout };
  }

  /** True while this candidate leads (a term started and its signal has not aborted). */
  get isLeader(): boolean {
    return this.leadership !== undefined;
  }

  /** The current term's leadership (fencing token, `ifLeader()`), or undefined when not leading. */
  get leadership(): Leadership | undefined {
    const phase = this.run?.phase;
    return phase?.kind === 'leading' && !phase.leadership.signal.aborted ? phase.leadership : undefined;
  }

  /**
   * False while this candidate believes it leads but its lease's keepalive is overdue (no
   * acknowledgement for one and a half keepalive intervals): it may be about to lose leadership
   * without knowing. True otherwise. Wire it into `/healthz` so that an orchestrator restarts a
   * leader cut off from etcd.
   */
  healthy(): boolean {
    const phase = this.run?.phase;
    if (phase?.kind !== 'leading' || phase.leadership.signal.aborted) return true;
    return !phase.session.keepAliveOverdue;
  }

  /**
   * Creates the first session and starts campaigning (in the background: leadership comes through
   * `onStartedLeading`). Resolves once the session exists; a second call while running resolves
   * with the first.
   *
   * @throws {EtcdUnavailableError} etcd did not grant a lease within the session's timeout.
   * @throws {PermissionDeniedError} etcd refused the lease.
   * @throws {ElectorStoppedError} `stop()` was called before the session existed.
   */
  async start(): Promise<void> {
    const state = this.state;
    switch (state.kind) {
      case 'starting':
        return state.started;
      case 'running':
        return;
      case 'stopping':
        await state.stopped;
        return this.start();
      case 'idle': {
        const run: Run = { stopping: new AbortController(), phase: { kind: 'connecting' }, session: undefined, loop: undefined, observer: undefined };
        const started = this.startRun(run);
        this.state = { kind: 'starting', run, started };
        return started;
      }
    }
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
    const state = this.state;
    if (state.kind === 'idle') return Promise.resolve();
    if (state.kind === 'stopping') return state.stopped;
    const stopped = this.stopRun(state.run, state.kind === 'starting' ? state.started : undefined);
    this.state = { kind: 'stopping', run: state.run, stopped };
    return stopped;
  }

  private get run(): Run | undefined {
    return this.state.kind === 'idle' ? undefined : this.state.run;
  }

  private async startRun(run: Run): Promise<void> {
    try {
      run.session = await this.newSession(run);
    } catch (error) {
      if (this.state.kind === 'starting' && this.state.run === run) this.state = { kind: 'idle' };
      throw error;
    }
    if (this.state.kind === 'starting' && this.state.run === run) this.state = { kind: 'running', run };
    run.loop = this.campaignLoop(run);
    if (this.options.onNewLeader) run.observer = this.observeLoop(run);
  }

  private async stopRun(run: Run, starting: Promise<void> | undefined): Promise<void> {
    // Aborting first also cuts short a start() still waiting for its session.
    run.stopping.abort(new ElectorStoppedError(this.name));
    await starting?.catch(() => undefined);
    const phase = run.phase;
    if (phase.kind === 'leading' && !phase.leadership.signal.aborted) {
      await phase.leadership.resign().catch(error => this.report(error));
    }
    await run.loop;
    await run.observer;
    await run.session?.close().catch(error => this.report(error));
    this.state = { kind: 'idle' };
  }

  private newSession(run: Run): Promise<Session> {
    return Session.create(this.settings.client, {
      ttl: this.ttl,
      callTimeout: this.ctx.callTimeout,
      retryPolicy: this.ctx.policy,
      signal: run.stopping.signal,
    });
  }

  private async campaignLoop(run: Run): Promise<void> {
    const stopping = run.stopping.signal;
    const backoff = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
    let retryAtOnce = false;
    while (!stopping.aborted) {
      let session: Session | undefined;
      try {
        if (!run.session || run.session.ended) {
          run.phase = { kind: 'connecting' };
          run.session?.close().catch(() => undefined);
          run.session = undefined;
          run.session = await this.newSession(run);
        }
        session = run.session;
        run.phase = { kind: 'campaigning', session };
        const leadership = await new Election(session, this.name).campaign(this.value, { signal: stopping });
        await this.lead(run, session, leadership);
        backoff.reset();
      } catch (error) {
        if (stopping.aborted) break;
        // The lease is gone (revoked or expired in etcd before our session noticed): new session.
        if (session && isLeaseGone(error)) await session.close().catch(() => undefined);
        this.report(error);
        // The first failure after our lease was lost is retried at once, on a new session; anything
        // else (etcd unreachable, a failing onStartedLeading, repeated losses) backs off.
        const leaseLost = session !== undefined && session.ended && !(error instanceof CallbackError);
        retryAtOnce = leaseLost && !backoff.failing;
        const delay = backoff.next();
        run.phase = { kind: 'backing-off', session: run.session };
        if (!retryAtOnce) await pause(delay, stopping);
      }
    }
  }

  /** One term: runs onStartedLeading until leadership ends, then cleans up. */
  private async lead(run: Run, session: Session, leadership: Leadership): Promise<void> {
    const signal = leadership.signal;
    if (signal.aborted) {
      // Lost in the instant after our turn came: no term to start (nor to stop).
      await leadership.resign().catch(() => undefined);
      return;
    }
    run.phase = { kind: 'leading', session, leadership };
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
    if (run.phase.kind === 'leading' && run.phase.leadership === leadership) run.phase = { kind: 'campaigning', session };
    if (failure !== undefined) throw new CallbackError('onStartedLeading', failure);
  }

  private async observeLoop(run: Run): Promise<void> {
    try {
      for await (const leader of watchLeader(this.settings.client, this.ctx, this.name, run.stopping.signal)) {
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
    try {
      if (this.options.onError) this.options.onError(asError(error));
      else process.emitWarning(asError(error));
    } catch {
      // onError itself failed: nowhere left to report.
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
