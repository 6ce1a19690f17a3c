import { pause } from '../util/abort.js';

/** Backoff bound of a deletion retried in the background, ms. */
const RETRY_MAX_MS = 10_000;

/**
 * Runs `attempt` after `firstDelay` ms, and again with a doubling delay (up to 10 s) until it
 * succeeds or `until` aborts: a key's deletion that etcd could not take now, or a sweep after a
 * write that may still be applied. Nothing here keeps the process alive.
 */
export function sweepLater(firstDelay: number, attempt: () => Promise<void>, until: AbortSignal): void {
  void (async () => {
    for (let delay = firstDelay; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      if (!(await pause(delay, until))) return;
      try {
        await attempt();
        return;
      } catch {
        // etcd still unreachable: try again later.
      }
    }
  })();
}
