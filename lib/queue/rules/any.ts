import { isReaderKey } from '../layout.js';
import { exclusive, type Entry, type Rule } from '../rule.js';
import { reader } from './read-write.js';
import { parsePermitValue, semaphoreRule } from './semaphore.js';

/**
 * The rule an entry follows, told from the entry alone: a reader's key (`.read`) the reader rule,
 * a semaphore value (`{"permits","weight"}`) the semaphore rule, anything else the exclusive rule
 * (a `Mutex`, an `RWMutex` writer, an election candidate, `etcdctl lock`).
 */
export function ruleOf(name: string, entry: Entry): Rule {
  if (isReaderKey(entry.key)) return reader;
  const permit = parsePermitValue(entry.value);
  return permit ? semaphoreRule(name, permit.permits, permit.weight) : exclusive;
}

/**
 * Which entries of a whole queue (oldest first) hold, each by its own rule: what a status report
 * shows as holders of a lock of any kind.
 */
export function holders(name: string, queue: readonly Entry[]): Set<Entry> {
  const held = new Set<Entry>();
  for (const [i, entry] of queue.entries()) {
    const older = queue.slice(0, i).reverse();
    if (ruleOf(name, entry).decide(entry, older, true).kind === 'granted') held.add(entry);
  }
  return held;
}
