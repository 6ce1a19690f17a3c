import type { Hold } from './hold.js';
import { Lock } from './lock.js';

/**
 * Held permits of a {@link Semaphore}: the handle `acquire()` returns, shaped like a {@link Lock}
 * (key, fencing token, signal, `ifOwner()`, `extend()`). Give the permits back with
 * {@link unlock} or `await using`.
 */
export class Permit extends Lock {
  /** @internal */
  constructor(
    hold: Hold,
    /** How many permits this handle holds. */
    readonly weight: number,
    /** How many permits the semaphore has (N). */
    readonly permits: number,
  ) {
    super(hold);
  }
}
