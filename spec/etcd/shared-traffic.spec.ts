import { describe, expect, it } from 'vitest';
import { watch, type WatchEvent, type WatchListener } from '../../lib/etcd/watch.js';
import { RWMutex } from '../../lib/index.js';
import { client, session, uniqueName } from '../support/etcd.js';
import { recordTraffic, type Traffic } from '../support/traffic.js';

/** A watch listener that keeps the events it is told of, and lets a test await what comes next. */
interface Recorder extends WatchListener {
  readonly seen: WatchEvent[];
  next(kind: 'synced' | 'event'): Promise<void>;
}

function listener(): Recorder {
  const waiting: { kind: string; resolve: () => void }[] = [];
  const told: string[] = [];
  const seen: WatchEvent[] = [];
  const tell = (kind: string): void => {
    const at = waiting.findIndex(w => w.kind === kind);
    if (at >= 0) waiting.splice(at, 1)[0]!.resolve();
    else told.push(kind);
  };
  return {
    seen,
    synced: () => tell('synced'),
    events: events => {
      seen.push(...events);
      tell('event');
    },
    next: kind => {
      const at = told.indexOf(kind);
      if (at >= 0) {
        told.splice(at, 1);
        return Promise.resolve();
      }
      return new Promise(resolve => waiting.push({ kind, resolve }));
    },
  };
}

const creations = (t: Traffic): number => t.streamed.filter(r => 'create_request' in r).length;
const cancellations = (t: Traffic): number => t.streamed.filter(r => 'cancel_request' in r).length;

describe('one watch for many waiters of a process', () => {
  it('watches of the same key from "now" share one etcd watch, each told of it until it cancels', async () => {
    const c = client();
    const traffic = recordTraffic(c);
    const key = Buffer.from(uniqueName('shared-watch'));
    const first = listener();
    const second = listener();
    const a = watch(c, { key, events: 'delete' }, first);
    await first.next('synced');
    const b = watch(c, { key, events: 'delete' }, second);
    await second.next('synced');
    expect(creations(traffic)).toBe(1);

    await c.put(key).value('x');
    await c.delete().key(key);
    await Promise.all([first.next('event'), second.next('event')]);
    expect(first.seen.map(e => e.type)).toEqual(['delete']);
    expect(second.seen.map(e => e.type)).toEqual(['delete']);

    // One leaves: the other still hears, and etcd's watch stays.
    a.cancel();
    expect(cancellations(traffic)).toBe(0);
    await c.put(key).value('y');
    await c.delete().key(key);
    await second.next('event');
    expect(second.seen).toHaveLength(2);
    expect(first.seen).toHaveLength(1);

    // The last one leaves: etcd's watch is cancelled, and a new watch is a new registration.
    b.cancel();
    expect(cancellations(traffic)).toBe(1);
    const third = listener();
    const c3 = watch(c, { key, events: 'delete' }, third);
    await third.next('synced');
    expect(creations(traffic)).toBe(2);
    c3.cancel();
  });

  it('a watch from a start revision is never shared', async () => {
    const c = client();
    const traffic = recordTraffic(c);
    const key = Buffer.from(uniqueName('own-watch'));
    const { header } = await c.put(key).value('x');
    const start = BigInt(header.revision) + 1n;
    const one = listener();
    const two = listener();
    const a = watch(c, { key, events: 'delete', startRevision: start }, one);
    const b = watch(c, { key, events: 'delete', startRevision: start }, two);
    await Promise.all([one.next('synced'), two.next('synced')]);
    expect(creations(traffic)).toBe(2);
    a.cancel();
    b.cancel();
  });
  it('a watch that joins is told it is synced only once every watch created before the join is registered', async () => {
    const c = client();
    const traffic = recordTraffic(c);
    const shared = Buffer.from(uniqueName('joined'));
    const other = Buffer.from(uniqueName('created-between'));
    const order: string[] = [];
    const tell = (name: string, l: Recorder): Recorder => ({ ...l, seen: l.seen, next: l.next, synced: (...args) => (order.push(name), l.synced(...args)) });
    const owner = listener();
    const a = watch(c, { key: shared, events: 'delete' }, tell('owner', owner));
    await owner.next('synced');
    // A waiter's own-key watch is created, then its watch of what the rule names joins: the read
    // that follows the join's sync must come after the own-key watch is registered.
    const own = listener();
    const joiner = listener();
    const b = watch(c, { key: other, events: 'delete' }, tell('created before the join', own));
    const j = watch(c, { key: shared, events: 'delete' }, tell('joiner', joiner));
    await Promise.all([own.next('synced'), joiner.next('synced')]);
    expect(order).toEqual(['owner', 'created before the join', 'joiner']);
    expect(creations(traffic)).toBe(2);
    expect(traffic.streamed.filter(r => 'progress_request' in r)).toHaveLength(1);
    for (const w of [a, b, j]) w.cancel();
  });
});

describe('a writer’s release to the readers of one process', () => {
  it('costs one watch of the writer’s key and one call checking the readers’ keys', async () => {
    const c = client();
    const [writerSession, readerSession] = [await session(c), await session(c)];
    const name = uniqueName('fanout');
    const writer = await new RWMutex(writerSession, name).writeLock();
    const traffic = recordTraffic(c);
    // Seven readers: each sees the writer in the first page its creation reads (8 keys), so each
    // reads the queue once more after its watch is registered, and waits once that read is answered.
    const count = 7;
    const readers = Array.from({ length: count }, () => new RWMutex(readerSession, name).readLock());
    await traffic.answered(count);
    const writerKey = Buffer.from(writer.key);
    // The readers' watches of the writer's key, from "now" (the writer's own-key watch, which starts
    // 50 ms into its hold from a revision, is not one of them).
    const fromNow = (r: Record<string, unknown>): boolean => {
      const create = r.create_request as { key: Buffer; start_revision?: string } | undefined;
      return create !== undefined && create.start_revision === undefined && Buffer.compare(create.key, writerKey) === 0;
    };
    const writerWatches = traffic.streamed.filter(fromNow);
    expect(writerWatches).toHaveLength(1);

    traffic.unary.length = traffic.requests.length = 0;
    await writer.unlock();
    const held = await Promise.all(readers);
    expect(held.every(l => l.held)).toBe(true);
    // The writer's delete, then one read-only transaction checking the seven readers' keys: each a
    // comparison of its create revision (read back, in another call, only if one fails).
    expect(traffic.unary).toEqual(['txn', 'txn']);
    const check = traffic.requests[1] as { compare: { key: Buffer; target: string }[]; success: unknown[]; failure: unknown[] };
    expect(check.compare.map(c => c.key.toString()).sort()).toEqual(held.map(l => Buffer.from(l.key).toString()).sort());
    expect(check.compare.every(c => c.target === 'Create')).toBe(true);
    expect(check.success).toEqual([]);
    expect(check.failure).toEqual([]);
    await Promise.all(held.map(l => l.unlock()));
  });
});
