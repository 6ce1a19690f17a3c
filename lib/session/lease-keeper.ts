import type { ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, Namespace } from 'etcd3';
import type { LeaseLossReason } from '../errors.js';
import { discardStream, type DuplexStream, type Endpoint } from '../etcd/internals.js';
import { membersOf, type Members } from '../etcd/members.js';
import { Backoff } from '../util/backoff.js';

type KeepAliveStream = DuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

/** Monotonic milliseconds: lease deadlines must not move with the wall clock. */
export const now = (): number => performance.now();

/** The keeper's lifecycle. */
type State =
  /** No stream: one is opened at the next tick (after a failure, with a backoff). */
  | { readonly kind: 'idle' }
  /** A stream is being opened on `endpoint`. */
  | { readonly kind: 'opening'; readonly endpoint: Endpoint }
  /** Keepalives go out on `stream`; `pending` holds the send times of those not yet answered. */
  | { readonly kind: 'open'; readonly stream: KeepAliveStream; readonly endpoint: Endpoint; pending: number[] }
  /** Stopped for good (the lease was lost, or the session closed). */
  | { readonly kind: 'stopped' };

/**
 * Keeps one lease alive over one bidirectional keepalive stream, and knows a conservative deadline:
 * the send time of the last acknowledged keepalive plus the TTL etcd granted in that answer. etcd
 * starts its countdown when it receives the keepalive, after we sent it, so the lease cannot expire
 * in etcd before this deadline (clocks run at the same rate on one machine; across machines,
 * drift within a TTL is negligible).
 *
 * The stream is opened at once (a reset in the first third of the TTL is noticed like any other),
 * on a member that answers; a keepalive unanswered for {@link answerTimeout} gives the member up as
 * suspect and opens the next stream on another.
 *
 * Written here instead of using etcd3's `Lease` because that class schedules on the requested TTL,
 * reports loss only 2×TTL after the last success, and reopens a failed stream every 100 ms.
 */
export class LeaseKeeper {
  /** Monotonic time (ms) after which the lease may have expired in etcd. */
  deadline: number;
  /** Monotonic time (ms) the last acknowledged keepalive was sent. */
  lastAckSentAt: number;
  /** TTL (s) etcd granted in its last answer. */
  grantedTtl: number;
  /** The last error from the keepalive stream, kept as the cause of an expiry. */
  lastError: unknown;

  private state: State = { kind: 'idle' };
  private readonly members: Members;
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  /** Backoff of stream reopenings after failures in a row: 50 ms to 1 s. */
  private readonly backoff = new Backoff(50, 1000);
  /** Waiters for the next keepalive answer (see {@link check}). */
  private checks: ((alive: boolean) => void)[] = [];

  constructor(
    client: Namespace,
    private readonly id: string,
    grantedTtl: number,
    grantSentAt: number,
    private readonly onLost: (reason: LeaseLossReason, cause?: unknown) => void,
    /** Called with the round trip of each answered keepalive, ms. */
    private readonly onAnswered?: (ms: number) => void,
  ) {
    this.members = membersOf(client);
    this.grantedTtl = grantedTtl;
    this.lastAckSentAt = grantSentAt;
    this.deadline = grantSentAt + grantedTtl * 1000;
    this.armDeadline();
    this.openStream();
    this.schedule(this.interval());
  }

  /** Interval between keepalives: a third of the granted TTL, as etcd's own clients do. */
  interval(): number {
    return Math.max(100, (this.grantedTtl * 1000) / 3);
  }

  /**
   * How long (ms) a keepalive may go unanswered before its stream is given up and another one opened:
   * a quarter of the interval, from 0.3 s to 2 s. etcd answers in milliseconds, or after a leader
   * election (1-2 s, and a new stream does no harm then); a member that is frozen or cut off never
   * answers, and waiting for two unanswered keepalives would take until the deadline itself.
   */
  answerTimeout(): number {
    return Math.min(2000, Math.max(300, this.interval() / 4));
  }

  /** Sends a keepalive now, e.g. when something suggests the lease may be gone. */
  probe(): void {
    if (this.state.kind !== 'stopped') this.schedule(0);
  }

  /**
   * Sends a keepalive now and resolves with whether etcd still knows the lease: false once it said
   * the lease is gone (or the keeper stopped), true on a live answer, or when no answer came within
   * twice the answer timeout (nothing is known then).
   */
  check(): Promise<boolean> {
    if (this.state.kind === 'stopped') return Promise.resolve(false);
    return new Promise(resolve => {
      const timer = setTimeout(() => resolve(true), 2 * this.answerTimeout());
      this.checks.push(alive => {
        clearTimeout(timer);
        resolve(alive);
      });
      this.probe();
    });
  }

  private settleChecks(alive: boolean): void {
    const checks = this.checks;
    this.checks = [];
    for (const check of checks) check(alive);
  }

  get stopped(): boolean {
    return this.state.kind === 'stopped';
  }

  stop(): void {
    this.closeStream();
    this.state = { kind: 'stopped' };
    this.settleChecks(false);
    clearTimeout(this.tickTimer);
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.silenceTimer);
  }

  private schedule(ms: number): void {
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => this.tick(), ms);
  }

  private tick(): void {
    const state = this.state;
    switch (state.kind) {
      case 'stopped':
      case 'opening':
        return;
      case 'idle':
        return this.openStream();
      case 'open': {
        // Two keepalives unanswered: the stream is probably dead (a blackhole keeps the socket open).
        if (state.pending.length >= 2) {
          this.closeStream();
          return this.openStream();
        }
        state.pending.push(now());
        state.stream.write({ ID: this.id });
        this.schedule(this.interval());
        clearTimeout(this.silenceTimer);
        this.silenceTimer = setTimeout(() => this.onSilent(state.stream), this.answerTimeout());
      }
    }
  }

  private openStream(): void {
    if (this.state.kind !== 'idle') return;
    const endpoint = this.members.order()[0]!;
    this.state = { kind: 'opening', endpoint };
    endpoint.stream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>('Lease', 'leaseKeepAlive').then(
      stream => {
        if (this.state.kind !== 'opening') {
          discardStream(stream);
          return;
        }
        this.state = { kind: 'open', stream, endpoint, pending: [] };
        stream.on('data', res => this.onAnswer(stream, res));
        stream.on('error', err => this.onStreamFailed(stream, err));
        stream.on('end', () => this.onStreamFailed(stream, undefined));
        this.tick();
      },
      (err: unknown) => {
        if (this.state.kind !== 'opening') return;
        this.state = { kind: 'idle' };
        this.onStreamFailed(undefined, err);
      },
    );
  }

  private onAnswer(stream: KeepAliveStream, res: ILeaseKeepAliveResponse): void {
    const state = this.state;
    if (state.kind !== 'open' || stream !== state.stream) return;
    const sentAt = state.pending.shift() ?? now();
    if (state.pending.length === 0) clearTimeout(this.silenceTimer);
    this.members.answered(state.endpoint);
    const ttl = Number(res.TTL);
    if (!(ttl > 0)) {
      this.stop();
      this.onLost('revoked');
      return;
    }
    this.onAnswered?.(now() - sentAt);
    this.settleChecks(true);
    this.backoff.reset();
    this.grantedTtl = ttl;
    this.lastAckSentAt = sentAt;
    this.deadline = Math.max(this.deadline, sentAt + ttl * 1000);
    this.armDeadline();
  }

  private onStreamFailed(stream: KeepAliveStream | undefined, err: unknown): void {
    const state = this.state;
    if (state.kind === 'stopped' || (stream && (state.kind !== 'open' || stream !== state.stream))) return;
    this.closeStream();
    if (err !== undefined) this.lastError = err;
    // Back off from 50 ms to 1 s, never past the deadline's own check.
    this.schedule(this.backoff.next());
  }

  /**
   * A keepalive went unanswered for {@link answerTimeout}: the stream's member is frozen or the
   * connection is dead. The member is avoided until it answers again, and the next stream goes
   * elsewhere at once.
   */
  private onSilent(stream: KeepAliveStream): void {
    const state = this.state;
    if (state.kind !== 'open' || stream !== state.stream || state.pending.length === 0) return;
    this.members.suspect(state.endpoint);
    this.closeStream();
    this.lastError = new Error(`no keepalive answer within ${Math.round(this.answerTimeout())} ms`);
    this.schedule(0);
  }

  private closeStream(): void {
    const state = this.state;
    if (state.kind === 'stopped') return;
    this.state = { kind: 'idle' };
    if (state.kind !== 'open') return;
    discardStream(state.stream);
  }

  /**
   * How long before the deadline the lease is given up, in ms: a tenth of the TTL, at most 1 s.
   * etcd may expire the lease right at the deadline and tell a successor within milliseconds
   * (measured: 24 ms after the holder's signal), while a timer runs late whenever the event loop is
   * busy or the garbage collector pauses. The headroom keeps the holder's signal ahead of any
   * successor through such delays; longer pauses are what fencing tokens are for.
   */
  headroom(): number {
    return Math.min(1000, this.grantedTtl * 100);
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    // Never synchronously: the owner may still be constructing itself.
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, this.deadline - this.headroom() - now()));
  }

  private expire(): void {
    if (this.state.kind === 'stopped') return;
    this.stop();
    this.onLost('expired', this.lastError);
  }
}

/**
 * Sends one keepalive on a stream of its own and returns when it was sent and the TTL etcd
 * answered (0: the lease is gone). Used when a grant answer came so late that its deadline is
 * already near: this renews it before any key is put on the lease.
 */
export async function keepAliveOnce(client: Namespace, id: string, timeoutMs: number): Promise<{ sentAt: number; ttl: number }> {
  const members = membersOf(client);
  const endpoint = members.order()[0]!;
  const stream = await endpoint.stream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>('Lease', 'leaseKeepAlive');
  try {
    const sentAt = now();
    const answer = new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        members.suspect(endpoint);
        reject(Object.assign(new Error(`no keepalive answer within ${timeoutMs} ms`), { code: 4 }));
      }, timeoutMs);
      stream.on('data', res => {
        clearTimeout(timer);
        resolve(res);
      });
      stream.on('error', err => {
        clearTimeout(timer);
        reject(err);
      });
    });
    stream.write({ ID: id });
    const res = await answer;
    return { sentAt, ttl: Number(res.TTL) };
  } finally {
    discardStream(stream);
  }
}
