import { isReaderKey } from '../layout.js';
import { exclusive, type Rule } from '../rule.js';

/**
 * The rules of a read-write lock, over one FIFO queue of readers and writers (ordered by create
 * revision). A key that does not say it is a reader's ({@link isReaderKey}) is a writer's, so a
 * `Mutex` or `etcdctl lock` on the same name excludes readers and writers alike.
 *
 * - A writer waits for every older entry, watching the deletion of its immediate predecessor alone:
 *   the {@link exclusive} rule.
 * - A reader waits only for older writers, watching the deletion of the newest older writer. When a
 *   writer leaves, exactly the readers queued between it and the next writer wake, and all of them
 *   are let in; a writer behind readers wakes once per departing predecessor, never in a herd.
 *
 * Neither side starves: nobody overtakes an older writer, and a writer only waits for older entries.
 */
export const writer: Rule = exclusive;

/** The rule of a reader: see {@link writer}. */
export const reader: Rule = {
  needsValues: false,
  decide(_me, older, complete) {
    const newestWriter = older.find(entry => !isReaderKey(entry.key));
    if (newestWriter) return { kind: 'watch-key', key: newestWriter.key, events: 'delete' };
    return complete ? { kind: 'granted' } : { kind: 'more' };
  },
};
