import { ExponentialBackoff, type IBackoff } from 'cockatiel';

/** Delays growing exponentially with decorrelated jitter (cockatiel's), for a loop that retries by itself. */
export class Backoff {
  private readonly factory: ExponentialBackoff<unknown>;
  private current: IBackoff<unknown> | undefined;

  constructor(initialDelay: number, maxDelay: number) {
    this.factory = new ExponentialBackoff({ initialDelay, maxDelay });
  }

  /** The delay before the next attempt, ms; grows with each call until {@link reset}. */
  next(): number {
    this.current = (this.current ?? this.factory).next(undefined);
    return this.current.duration;
  }

  /** Starts again from the initial delay (after a success). */
  reset(): void {
    this.current = undefined;
  }

  /** Whether any delay was taken since the last reset. */
  get failing(): boolean {
    return this.current !== undefined;
  }
}
