import { OwnershipLostError } from '../errors.js';

/** Why a ticket's key can no longer be trusted. */
export type LossReason = 'deleted' | 'session' | 'released';

/** What {@link Loss.follow} tells of the end (an `AbortController` will do). */
export interface LossFollower {
  abort(reason: Error): void;
}

/**
 * How a ticket tells of its end: the `signal` its holds hand out, and the one waiting turn that
 * follows it. Its usual end is a release, which nobody may be listening to: the controller of
 * {@link signal} is made only when the signal is first asked for, and the release's reason only
 * when someone looks at it (an error costs more than the rest of a release's work in this process).
 */
export class Loss {
  private controller: AbortController | undefined;
  private error: OwnershipLostError | undefined;
  private endedAs: LossReason | undefined;
  /** Told when the ticket ends (a waiting turn, see {@link follow}). */
  private follower: LossFollower | undefined;

  constructor(
    private readonly name: string,
    private readonly key: string,
  ) {}

  get ended(): boolean {
    return this.endedAs !== undefined;
  }

  /** Aborts with an {@link OwnershipLostError} when the ticket ends. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** {@link signal}'s reason, once the ticket ended. */
  get reason(): OwnershipLostError | undefined {
    if (this.endedAs === undefined) return undefined;
    return (this.error ??= this.releasedReason());
  }

  /** Throws {@link signal}'s reason if the ticket ended. */
  throwIfEnded(): void {
    if (this.ended) throw this.reason!;
  }

  /**
   * Aborts `follower` with {@link signal}'s reason when the ticket ends (at once if it has), until
   * {@link unfollow}: one follower at a time (the turn loop waiting on the ticket).
   */
  follow(follower: LossFollower): void {
    if (this.ended) follower.abort(this.reason!);
    else this.follower = follower;
  }

  /** Stops telling `follower` (see {@link follow}). */
  unfollow(follower: LossFollower): void {
    if (this.follower === follower) this.follower = undefined;
  }

  /** Ends: aborts {@link signal} and tells the follower. Only the first call counts. */
  end(reason: LossReason, cause?: unknown): void {
    if (this.ended) return;
    this.endedAs = reason;
    if (reason !== 'released') this.error = new OwnershipLostError(this.name, this.key, reason, { cause });
    if (this.controller) this.controller.abort(this.reason);
    const follower = this.follower;
    this.follower = undefined;
    follower?.abort(this.reason!);
  }

  /**
   * The reason of a release: not a failure, so without a stack. Capturing one (V8 walks the async
   * stack of the awaiting callers) cost about 28 µs of CPU per release, 1 % of an uncontended cycle.
   */
  private releasedReason(): OwnershipLostError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new OwnershipLostError(this.name, this.key, 'released');
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
