/**
 * A rule decides, from the entries ahead of ours, whether our turn has come and, if not, what to
 * watch. It is a pure function of what was read: the turn loop (`turn.ts`) reads, asks the rule,
 * watches what it says, and asks again when that changes. Each lock kind is one rule.
 */

/** One entry of a queue as a rule sees it. */
export interface Entry {
  /** The key, relative to the client's namespace. */
  readonly key: string;
  /** The key's create revision: its place in the queue and its fencing token. */
  readonly createRevision: bigint;
  /** The key's value, when the rule asked for values (else empty). */
  readonly value: Buffer;
}

/** What a rule says. */
export type Decision =
  /** Our turn has come. Once granted, an entry stays granted while its key exists. */
  | { readonly kind: 'granted' }
  /** Not yet: wait until `key` is deleted (`'delete'`), or changes in any way (`'all'`). */
  | { readonly kind: 'watch-key'; readonly key: string; readonly events: 'delete' | 'all' }
  /** Not yet: wait for a deletion (`'delete'`) or any change (`'all'`) under the queue's prefix. */
  | { readonly kind: 'watch-prefix'; readonly events: 'delete' | 'all' }
  /** The rule cannot decide from these entries: read older ones (only while `complete` is false). */
  | { readonly kind: 'more' }
  /** Never: the entries show we cannot take part (e.g. a semaphore with another limit). */
  | { readonly kind: 'refuse'; readonly error: Error };

/** A lock kind's admission rule. */
export interface Rule {
  /** Whether the rule needs the entries' values (else keys only are read). */
  readonly needsValues: boolean;
  /**
   * Decides for `me`, given the entries created before it, newest first. `complete` says whether
   * `older` holds every older entry (else more can be read, and the rule may answer `'more'`).
   */
  decide(me: Entry, older: readonly Entry[], complete: boolean): Decision;
}

/**
 * The exclusive rule of `Mutex`, `Election` (and a writer of a read-write lock): our turn comes when
 * no older entry is left; until then we watch the deletion of our immediate predecessor alone, so a
 * release wakes exactly one waiter. This is the rule etcd's own `concurrency` package follows, so
 * `etcdctl lock` and `etcdctl elect` take part in the same queues.
 */
export const exclusive: Rule = {
  needsValues: false,
  decide(_me, older, complete) {
    const predecessor = older[0];
    if (predecessor) return { kind: 'watch-key', key: predecessor.key, events: 'delete' };
    return complete ? { kind: 'granted' } : { kind: 'more' };
  },
};
