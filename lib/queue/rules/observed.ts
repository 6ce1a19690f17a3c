import type { Rule } from '../rule.js';

/** A rule wrapped to remember whether it ever made its entry wait. */
export interface ObservedRule {
  readonly rule: Rule;
  /** True once the rule answered anything but `granted` or `more` (the entry had to watch). */
  readonly waited: boolean;
}

/**
 * Wraps `rule` to note whether the turn had to wait: a semaphore entry that became a holder after
 * waiting writes its key once to wake its successor, one granted at once need not (nobody can be
 * watching it as a waiter). The rule's answers are passed through unchanged.
 */
export function observed(rule: Rule): ObservedRule {
  let waited = false;
  return {
    rule: {
      needsValues: rule.needsValues,
      decide(me, older, complete) {
        const decision = rule.decide(me, older, complete);
        if (decision.kind === 'watch-key' || decision.kind === 'watch-prefix') waited = true;
        return decision;
      },
    },
    get waited() {
      return waited;
    },
  };
}
