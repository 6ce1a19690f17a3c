/**
 * An in-memory model of a lock queue for the rules' property tests: entries ordered by create
 * revision, each asking its rule through the same paging as the turn loop (`decide()` over pages
 * of `PAGE` keys), with etcd's watch semantics (a deletion, or any change, of one key; a deletion
 * anywhere under the prefix) and the semaphore's one wake write. No etcd involved.
 */
import { PAGE, decide, type Page } from '../../lib/queue/read.js';
import type { Decision, Entry, Rule } from '../../lib/queue/rule.js';

/** A participant of the model: its entry, its rule, and what it last decided. */
export interface Participant {
  readonly entry: Entry;
  readonly rule: Rule;
  decision: Decision;
  /** It had to watch at least once (a semaphore holder then writes its key once). */
  waited: boolean;
}

/** A small seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The pages etcd would return for `me`: entries created up to a revision, newest first, `PAGE` at a time. */
function pageAt(queue: readonly Participant[], max: bigint): Page {
  const upTo = queue.filter(p => p.entry.createRevision <= max).reverse();
  const slice = upTo.slice(0, PAGE).map(p => p.entry);
  return { entries: slice, more: upTo.length > PAGE, oldest: slice[slice.length - 1]?.createRevision };
}

/** What `p`'s rule decides on the queue as it is now, read page by page as the turn loop reads it. */
export function decideNow(queue: readonly Participant[], p: Participant): Promise<Decision> {
  return decide(p.rule, p.entry, pageAt(queue, p.entry.createRevision), async max => pageAt(queue, max));
}

/** A change etcd would report under the prefix. */
export interface Change {
  readonly type: 'put' | 'delete';
  readonly key: string;
}

/** Whether a watch set up for `decision` fires on `change`. */
export function fires(decision: Decision, change: Change): boolean {
  if (decision.kind === 'watch-key') return decision.key === change.key && (decision.events === 'all' || change.type === 'delete');
  if (decision.kind === 'watch-prefix') return decision.events === 'all' || change.type === 'delete';
  return false;
}

/** A queue whose participants react to changes as the turn loop does. */
export class QueueModel {
  readonly queue: Participant[] = [];
  private revision = 1n;
  /** @param wakeWrites whether a participant that became a holder after waiting writes its key once (the semaphore's wake). */
  constructor(private readonly wakeWrites = false) {}

  /** Every change so far, with how many participants it woke: for the herd checks. */
  readonly wakes: { readonly change: Change; readonly woken: readonly Participant[] }[] = [];

  /** Adds an entry at the tail and lets it decide. */
  async join(key: string, rule: Rule, value = ''): Promise<Participant> {
    const p: Participant = { entry: { key, createRevision: ++this.revision, value: Buffer.from(value) }, rule, decision: { kind: 'more' }, waited: false };
    this.queue.push(p);
    await this.settle([p]);
    return p;
  }

  /** Deletes an entry (a release, an abort or a crash) and lets the watchers react. */
  async remove(p: Participant): Promise<void> {
    this.queue.splice(this.queue.indexOf(p), 1);
    this.revision++;
    await this.deliver({ type: 'delete', key: p.entry.key });
  }

  /** Every participant whose last decision is `granted`. */
  holders(): Participant[] {
    return this.queue.filter(p => p.decision.kind === 'granted');
  }

  private async deliver(change: Change): Promise<void> {
    const woken = this.queue.filter(p => fires(p.decision, change));
    this.wakes.push({ change, woken });
    await this.settle(woken);
  }

  private async settle(woken: readonly Participant[]): Promise<void> {
    for (const p of woken) {
      if (!this.queue.includes(p)) continue;
      const decision = await decideNow(this.queue, p);
      if (decision.kind === 'refuse') throw decision.error;
      const becameHolder = decision.kind === 'granted' && p.decision.kind !== 'granted';
      if (decision.kind === 'watch-key' || decision.kind === 'watch-prefix') p.waited = true;
      p.decision = decision;
      // The semaphore's wake: a holder that had waited writes its key once.
      if (this.wakeWrites && becameHolder && p.waited) {
        this.revision++;
        await this.deliver({ type: 'put', key: p.entry.key });
      }
    }
  }
}
