/**
 * Milliseconds of wall time at sub-millisecond resolution, comparable across the processes of
 * this machine. `performance.timeOrigin + performance.now()` is not: a process reads the wall
 * clock once at start, a moment apart from its monotonic origin, and a process descheduled in that
 * moment (a busy machine) keeps the gap for its whole life; the checker saw a client's times run a
 * steady ~230 ms ahead of the others'. Here the offset from monotonic to wall time is taken from
 * `Date.now()` (which reads the wall clock each call), as the largest of a burst of samples (each
 * one under-estimates it by the unread fraction of a millisecond and by any delay between its two
 * reads), and taken again every second, so a slewed wall clock is followed too.
 */
let offset = calibrate();
setInterval(() => (offset = calibrate()), 1000).unref();

function calibrate(): number {
  let best = -Infinity;
  // Spin a little over a millisecond, so that one sample catches Date.now() just as it turns.
  for (const until = performance.now() + 1.2; performance.now() < until; ) best = Math.max(best, Date.now() - performance.now());
  return best;
}

export function wallClock(): number {
  return offset + performance.now();
}
