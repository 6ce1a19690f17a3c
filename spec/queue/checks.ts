/** Invariants every queue rule must keep, checked on a {@link QueueModel} after each step. */
import { expect } from 'vitest';
import { decideNow, type QueueModel } from '../support/queue-model.js';

/**
 * - FIFO: the holders are the oldest entries, in order (nobody overtakes a waiter);
 * - no stale decision: every participant's last decision is what it would decide now, so no
 *   wake-up was lost and no free turn is left idle (work-conserving);
 * - each waiter watches exactly one key, an older entry, or (if `prefixForHead`) the prefix for
 *   deletions, and only as the head waiter (every older entry holds).
 */
export async function checkQueue(model: QueueModel, prefixForHead: boolean): Promise<void> {
  const { queue } = model;
  const firstWaiter = queue.findIndex(p => p.decision.kind !== 'granted');
  if (firstWaiter >= 0) expect(queue.slice(firstWaiter).every(p => p.decision.kind !== 'granted')).toBe(true);
  for (const [i, p] of queue.entries()) {
    expect(await decideNow(queue, p)).toEqual(p.decision);
    const d = p.decision;
    if (d.kind === 'watch-key') {
      expect(queue.slice(0, i).map(o => o.entry.key)).toContain(d.key);
    } else if (d.kind === 'watch-prefix') {
      expect(prefixForHead).toBe(true);
      expect(d.events).toBe('delete');
      expect(i).toBe(firstWaiter);
    } else {
      expect(d.kind).toBe('granted');
    }
  }
}
