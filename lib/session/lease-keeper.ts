import { castGrpcError, type IDuplexStream, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse, type Namespace } from 'etcd3';
import type { LeaseLossReason } from '../errors.js';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

/** Monotonic milliseconds: lease deadlines must not move with the wall clock. */
export const now = (): number => performance.now();

/**
 * Keeps one lease alive over one bidirectional keepalive stream, and knows a conservative deadline:
 * the send time of the last acknowledged keepalive plus the TTL etcd granted in that answer. etcd
 * starts its countdown when it receives the keepalive, after we sent it, so the lease cannot expire
 * in etcd before this deadline (clocks run at the same rate on one machine; across machines,
 * drift within a TTL is negligible).
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

  private stream: KeepAliveStream | undefined;
  private opening = false;
  private pending: number[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly client: Namespace,
    private readonly id: string,
    grantedTtl: number,
    grantSentAt: number,
    private readonly onLost: (reason: LeaseLossReason, cause?: unknown) => void,
  ) {
    this.grantedTtl = grantedTtl;
    this.lastAckSentAt = grantSentAt;
    this.deadline = grantSentAt + grantedTtl * 1000;
    this.armDeadline();
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
    if (!this.stopped) this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.silenceTimer);
    this.closeStream();
  }

  private schedule(ms: number): void {
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => this.tick(), ms);
  }

  private tick(): void {
    if (this.stopped) return;
    // Two keepalives unanswered: the stream is probably dead (a blackhole keeps the socket open).
    if (this.pending.length >= 2) this.closeStream();
    if (this.stream) {
      const stream = this.stream;
      this.pending.push(now());
      stream.write({ ID: this.id });
      this.schedule(this.interval());
      clearTimeout(this.silenceTimer);
      this.silenceTimer = setTimeout(() => this.onSilent(stream), this.answerTimeout());
      return;
    }
    this.openStream();
  }

  private openStream(): void {
    if (this.opening) return;
    this.opening = true;
    this.client.leaseClient.leaseKeepAlive().then(
      stream => {
        this.opening = false;
        if (this.stopped) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        stream.on('data', res => this.onAnswer(stream, res));
        stream.on('error', err => this.onStreamFailed(stream, err));
        stream.on('end', () => this.onStreamFailed(stream, undefined));
        this.tick();
      },
      (err: unknown) => {
        this.opening = false;
        this.onStreamFailed(undefined, err);
      },
    );
  }

  private onAnswer(stream: KeepAliveStream, res: ILeaseKeepAliveResponse): void {
    if (this.stopped || stream !== this.stream) return;
    const sentAt = this.pending.shift() ?? now();
    if (this.pending.length === 0) clearTimeout(this.silenceTimer);
    const ttl = Number(res.TTL);
    if (!(ttl > 0)) {
      this.stop();
      this.onLost('revoked');
      return;
    }
    this.failures = 0;
    this.grantedTtl = ttl;
    this.lastAckSentAt = sentAt;
    this.deadline = Math.max(this.deadline, sentAt + ttl * 1000);
    this.armDeadline();
  }

  private onStreamFailed(stream: KeepAliveStream | undefined, err: unknown): void {
    if (this.stopped || (stream && stream !== this.stream)) return;
    this.closeStream();
    if (err !== undefined) this.lastError = castGrpcError(err as Error);
    // Back off from 50 ms to 1 s, never past the deadline's own check.
    this.failures++;
    this.schedule(Math.min(1000, 50 * 2 ** Math.min(this.failures, 5)));
  }

  /**
   * A keepalive went unanswered for {@link answerTimeout}: the stream's member is frozen or the
   * connection is dead. Cancelling the stream makes etcd3 count a failure against that member (its
   * circuit breaker opens after three in a row), so the next streams soon go to another member.
   */
  private onSilent(stream: KeepAliveStream): void {
    if (this.stopped || stream !== this.stream || this.pending.length === 0) return;
    this.closeStream();
    this.lastError = new Error(`no keepalive answer within ${Math.round(this.answerTimeout())} ms`);
    // At once: the member was given its time already, and the next stream may reach another.
    this.schedule(0);
  }

  /** The last error from the keepalive stream, kept as the cause of an expiry. */
  lastError: unknown;

  private closeStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.pending = [];
    if (stream) {
      try {
        stream.cancel();
      } catch {
        // already closed
      }
    }
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
    if (this.stopped) return;
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
  const stream = await client.leaseClient.leaseKeepAlive();
  try {
    const sentAt = now();
    const answer = new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no keepalive answer within ${timeoutMs} ms`)), timeoutMs);
      stream.on('data', res => {
        clearTimeout(timer);
        resolve(res);
      });
      stream.on('error', err => {
        clearTimeout(timer);
        reject(castGrpcError(err));
      });
    });
    stream.write({ ID: id });
    const res = await answer;
    return { sentAt, ttl: Number(res.TTL) };
  } finally {
    stream.cancel();
  }
}
