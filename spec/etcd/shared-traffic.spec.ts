import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { transportOf, type DuplexStream, type Endpoint } from '../../lib/etcd/internals.js';
import { keyExists } from '../../lib/etcd/key-check.js';
import { watch, type WatchEvent, type WatchListener } from '../../lib/etcd/watch.js';
import { defaultRetryPolicy } from '../../lib/etcd/call.js';
import { RWMutex } from '../../lib/index.js';
import { client, session, uniqueName } from '../support/etcd.js';

/** What a client sends to etcd: each unary call (method and request), and each request written on a stream. */
interface Traffic {
  unary: string[];
  requests: Record<string, unknown>[];
  streamed: Record<string, unknown>[];
  /** Resolves once `count` unary calls of `method` were answered since recording began. */
  answered(method: string, count: number): Promise<void>;
}

/** Records what `c` sends from now on, through the library's own transport (real etcd answers). */
function record(c: Etcd3): Traffic {
  const answers: string[] = [];
  const waiting: (() => void)[] = [];
  const traffic: Traffic = {
    unary: [],
    requests: [],
    streamed: [],
    answered: (method, count) =>
      new Promise(resolve => {
        const check = (): boolean => answers.filter(m => m === method).length >= count && (resolve(), true);
        if (!check()) waiting.push(() => void check());
      }),
  };
  for (const endpoint of transportOf(c).endpoints as Endpoint[]) {
    const { unary, stream } = endpoint;
    Object.assign(endpoint, {
      unary: async (service: string, method: string, request: unknown, deadline: number) => {
        traffic.unary.push(method);
        traffic.requests.push(request as Record<string, unknown>);
        const answer: unknown = await unary.call(endpoint, service as never, method, request, deadline);
        answers.push(method);
        for (const wake of waiting) wake();
        return answer;
      },
      stream: async (service: string, method: string) => {
        const s: DuplexStream<unknown, unknown> = await stream.call(endpoint, service as never, method);
        const write = s.write.bind(s);
        s.write = (request: unknown) => {
          traffic.streamed.push(request as Record<string, unknown>);
          return write(request);
        };
        return s;
      },
    });
  }
  return traffic;
}

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

const ctx = { policy: defaultRetryPolicy(), callTimeout: 5000 };
const creations = (t: Traffic): number => t.streamed.filter(r => 'create_request' in r).length;
const cancellations = (t: Traffic): number => t.streamed.filter(r => 'cancel_request' in r).length;

describe('one watch for many waiters of a process', () => {
  it('watches of the same key from "now" share one etcd watch, each told of it until it cancels', async () => {
    const c = client();
    const traffic = record(c);
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
    const traffic = record(c);
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
});

describe('key checks', () => {
  it('checks asked for in one turn go out together: one transaction when every key is there, one more to tell which is not', async () => {
    const c = client();
    const prefix = uniqueName('checks');
    const keys = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const key = Buffer.from(`${prefix}/${i}`);
        const { header } = await c.put(key).value('x');
        return { key, createRevision: BigInt(header.revision) };
      }),
    );
    const traffic = record(c);
    const all = await Promise.all(keys.map(k => keyExists(c, ctx, k.key, k.createRevision)));
    expect(all.every(Boolean)).toBe(true);
    expect(traffic.unary).toEqual(['txn']);

    traffic.unary.length = 0;
    const mixed = await Promise.all([
      ...keys.slice(0, 10).map(k => keyExists(c, ctx, k.key, k.createRevision)),
      keyExists(c, ctx, Buffer.from(`${prefix}/missing`), 1n),
      keyExists(c, ctx, keys[10]!.key, keys[10]!.createRevision - 1n),
    ]);
    expect(mixed).toEqual([...Array<boolean>(10).fill(true), false, false]);
    expect(traffic.unary).toEqual(['txn', 'txn']);
  });

  it('more checks than a transaction may hold are split at 128', async () => {
    const c = client();
    const key = Buffer.from(uniqueName('many-checks'));
    const { header } = await c.put(key).value('x');
    const traffic = record(c);
    const results = await Promise.all(Array.from({ length: 300 }, () => keyExists(c, ctx, key, BigInt(header.revision))));
    expect(results.every(Boolean)).toBe(true);
    expect(traffic.unary).toEqual(['txn', 'txn', 'txn']);
  });
});

describe('a writer’s release to the readers of one process', () => {
  it('costs one watch of the writer’s key and one check of all the readers’ keys', async () => {
    const c = client();
    const [writerSession, readerSession] = [await session(c), await session(c)];
    const name = uniqueName('fanout');
    const writer = await new RWMutex(writerSession, name).writeLock();
    const traffic = record(c);
    // Seven readers: each sees the writer in the first page its creation reads (8 keys), so each
    // reads the queue once more after its watch is registered, and waits once that read is answered.
    const count = 7;
    const readers = Array.from({ length: count }, () => new RWMutex(readerSession, name).readLock());
    await traffic.answered('range', count);
    const writerWatches = traffic.streamed.filter(r => 'create_request' in r && !('start_revision' in (r.create_request as object)));
    expect(writerWatches).toHaveLength(1);

    traffic.unary.length = traffic.requests.length = 0;
    await writer.unlock();
    const held = await Promise.all(readers);
    expect(held.every(l => l.held)).toBe(true);
    // The writer's delete, then one transaction comparing all seven readers' keys.
    expect(traffic.unary).toEqual(['txn', 'txn']);
    expect((traffic.requests[1] as { compare: unknown[] }).compare).toHaveLength(count);
    await Promise.all(held.map(l => l.unlock()));
  });
});
