import type { Lock } from './lock.js';
import { runHolding } from './reentry.js';

/**
 * Runs `fn` with `lock` held and unlocks it when `fn` returns or throws (a failed unlock after a
 * throw is ignored: the callback's error wins). With `reentrant`, code inside `fn` re-enters the
 * lock instead of queuing behind itself.
 */
export async function runHeld<L extends Lock, T>(lock: L, fn: (lock: L) => Promise<T> | T, reentrant: boolean): Promise<T> {
  let result: T;
  try {
    result = await (reentrant ? runHolding(lock.hold, () => fn(lock)) : fn(lock));
  } catch (error) {
    await lock.unlock().catch(() => undefined);
    throw error;
  }
  await lock.unlock();
  return result;
}
