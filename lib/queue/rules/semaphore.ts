import { PermitsMismatchError } from '../../errors.js';
import type { Entry, Rule } from '../rule.js';

/** What a semaphore entry stores in its value (JSON): the limit it agreed to, and its weight. */
export interface PermitValue {
  /** N: how many permits the semaphore has, as this participant believes. */
  readonly permits: number;
  /** How many of them this entry takes (1 unless weighted). */
  readonly weight: number;
}

/** The value a semaphore entry is created with: `{"permits":N,"weight":k}`. */
export function permitValue(permits: number, weight: number): string {
  return JSON.stringify({ permits, weight } satisfies PermitValue);
}

/**
 * Reads an entry's value as a {@link PermitValue}; `undefined` for anything else (a `Mutex`, an
 * `etcdctl lock`, a read-write lock's entry, or a value written by hand).
 */
export function parsePermitValue(value: Buffer): PermitValue | undefined {
  if (value.length === 0 || value[0] !== 0x7b) return undefined;
  try {
    const v = JSON.parse(value.toString()) as Partial<PermitValue>;
    const { permits, weight } = v;
    if (!Number.isSafeInteger(permits) || !Number.isSafeInteger(weight)) return undefined;
    return permits! >= 1 && weight! >= 1 && weight! <= permits! ? { permits: permits!, weight: weight! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The rule of a counting semaphore with `permits` (N) permits, for an entry of weight `weight`.
 *
 * An entry holds iff its weight plus the weights of every older entry fit in N: the holders are
 * the oldest entries, in order, so nobody overtakes a waiter (strict FIFO; a heavy entry at the
 * head holds back lighter ones behind it rather than starving). An entry that holds keeps holding
 * while its key exists, since older entries only ever leave. An entry whose value is not a
 * semaphore's (a `Mutex`, `etcdctl lock`) weighs N: it excludes everyone, as it expects.
 *
 * Waking without a herd and without idling a free permit:
 * - the head waiter (every older entry holds) watches the prefix for deletions: any holder leaving
 *   may let it in, and it is the only waiter that can be let in by one;
 * - every other waiter watches its immediate predecessor for any change: the predecessor's
 *   deletion, or the one write a waiter makes to its own key when it becomes a holder (see
 *   `Semaphore`), which makes its successor the new head waiter.
 *
 * A participant that finds an older entry with another N is refused with a
 * {@link PermitsMismatchError}: everyone on a name must agree on N.
 */
export function semaphoreRule(name: string, permits: number, weight: number): Rule {
  return {
    needsValues: true,
    decide(_me: Entry, older: readonly Entry[], complete: boolean) {
      let ahead = 0;
      for (const entry of older) {
        const value = parsePermitValue(entry.value);
        if (value && value.permits !== permits) {
          return { kind: 'refuse', error: new PermitsMismatchError(name, permits, value.permits, entry.key) };
        }
        ahead += value ? value.weight : permits;
      }
      const predecessor = older[0];
      // More entries can only add weight: past N, our predecessor waits too, whatever is older.
      if (predecessor && ahead > permits) return { kind: 'watch-key', key: predecessor.key, events: 'all' };
      if (!complete) return { kind: 'more' };
      if (ahead + weight <= permits) return { kind: 'granted' };
      return { kind: 'watch-prefix', events: 'delete' };
    },
  };
}
