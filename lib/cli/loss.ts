import { HoldExpiredError } from '../errors.js';
import { ExitCode } from './exit-codes.js';

/**
 * How a hold ended, from its signal's reason: the end of `--max-hold` (a {@link HoldExpiredError})
 * or a loss (anything else: lease gone, key deleted).
 */
export interface HoldEnd {
  /** {@link ExitCode.holdExpired} or {@link ExitCode.lost}. */
  readonly exitCode: number;
  /** For stderr, e.g. `lost the lock "x": …` or `the lock "x" reached the end of --max-hold (2000 ms)`. */
  readonly message: string;
}

/** Reads why `what` (e.g. `the lock "x"`) ended from its signal's `reason`. */
export function holdEnd(what: string, reason: unknown): HoldEnd {
  if (reason instanceof HoldExpiredError) {
    return { exitCode: ExitCode.holdExpired, message: `${what} reached the end of --max-hold (${reason.heldFor} ms)` };
  }
  return { exitCode: ExitCode.lost, message: `lost ${what}: ${reason instanceof Error ? reason.message : String(reason)}` };
}
