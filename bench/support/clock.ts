/**
 * Milliseconds on the monotonic clock (CLOCK_MONOTONIC on Linux, via `process.hrtime`). It is the
 * same clock in every process on one machine, so a timestamp taken in a worker process can be
 * subtracted from one taken here.
 */
export function clock(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Resolves after `ms` milliseconds, without keeping the process alive for it. */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Times one async call, in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = clock();
  await fn();
  return clock() - start;
}
