import { describe, expect, it } from 'vitest';
import { isReaderKey, keyOf, READER_MARKER } from '../../lib/queue/layout.js';
import { reader, writer } from '../../lib/queue/rules/read-write.js';
import type { Entry } from '../../lib/queue/rule.js';
import { QueueModel, random, type Participant } from '../support/queue-model.js';
import { checkQueue } from './checks.js';

const entry = (key: string, rev: number): Entry => ({ key, createRevision: BigInt(rev), value: Buffer.alloc(0) });

describe('read-write rules', () => {
  it('marks readers in the key and keeps the layout parseable', () => {
    expect(keyOf('n/', 'abc', 0, READER_MARKER)).toBe('n/abc.read');
    expect(keyOf('n/', 'abc', 2, READER_MARKER)).toBe('n/abc_2.read');
    expect(keyOf('n/', 'abc', 2)).toBe('n/abc_2');
    expect(isReaderKey('n/abc_2.read')).toBe(true);
    expect(isReaderKey('n/abc_2')).toBe(false);
    expect(isReaderKey('n/694d8a1b2c3d4e5f')).toBe(false);
  });

  it('a reader waits only for the newest older writer; a writer for its predecessor', () => {
    const me = entry('n/e.read', 9);
    const older = [entry('n/d.read', 8), entry('n/c', 7), entry('n/b.read', 6), entry('n/a', 5)];
    expect(reader.decide(me, older, true)).toEqual({ kind: 'watch-key', key: 'n/c', events: 'delete' });
    expect(reader.decide(me, [entry('n/d.read', 8)], true)).toEqual({ kind: 'granted' });
    expect(reader.decide(me, [entry('n/d.read', 8)], false)).toEqual({ kind: 'more' });
    expect(writer.decide(entry('n/e', 9), older, true)).toEqual({ kind: 'watch-key', key: 'n/d.read', events: 'delete' });
    expect(writer.decide(entry('n/e', 9), [], true)).toEqual({ kind: 'granted' });
  });

  it('random queues: no writer with anyone, FIFO, one watched key each, no lost wake-up', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = random(seed);
      const model = new QueueModel();
      let next = 0;
      for (let step = 0; step < 40; step++) {
        const live = model.queue;
        if (live.length > 0 && rnd() < 0.45) {
          // Holders release more often than waiters give up.
          const holders = model.holders();
          const pick: Participant = holders.length > 0 && rnd() < 0.7 ? holders[Math.floor(rnd() * holders.length)]! : live[Math.floor(rnd() * live.length)]!;
          const wasHolder = pick.decision.kind === 'granted';
          const isWriter = !isReaderKey(pick.entry.key);
          await model.remove(pick);
          const wake = model.wakes.find(w => w.change.type === 'delete' && w.change.key === pick.entry.key)!;
          // A holder's release wakes only waiters it admits: every one of them now holds.
          if (wasHolder && isWriter) for (const p of wake.woken) expect(p.decision.kind).toBe('granted');
        } else {
          const read = rnd() < 0.6;
          const lease = (next++).toString(16);
          // Some writers are foreign (a Mutex, `etcdctl lock`): a key without the marker.
          const key = `n/${read ? `${lease}${rnd() < 0.3 ? '_1' : ''}${READER_MARKER}` : lease}`;
          await model.join(key, read ? reader : writer);
        }
        const holders = model.holders();
        const writers = holders.filter(p => !isReaderKey(p.entry.key));
        if (writers.length > 0) expect(holders.length, `seed ${seed}`).toBe(1);
        for (const p of model.queue) {
          const d = p.decision;
          if (d.kind !== 'watch-key') continue;
          // A writer watches its immediate predecessor, a reader the newest older writer.
          const older = model.queue.slice(0, model.queue.indexOf(p)).reverse();
          const expected = isReaderKey(p.entry.key) ? older.find(o => !isReaderKey(o.entry.key)) : older[0];
          expect(d.key).toBe(expected?.entry.key);
        }
        await checkQueue(model, false);
      }
    }
  });

  it('a writer’s release admits every reader queued behind it up to the next writer, and no one else', async () => {
    const model = new QueueModel();
    const w1 = await model.join('n/1', writer);
    const readers: Participant[] = [];
    for (let i = 0; i < 20; i++) readers.push(await model.join(`n/r${i}${READER_MARKER}`, reader));
    const w2 = await model.join('n/2', writer);
    const late = await model.join(`n/r99${READER_MARKER}`, reader);
    await model.remove(w1);
    expect(readers.every(r => r.decision.kind === 'granted')).toBe(true);
    expect(w2.decision).toEqual({ kind: 'watch-key', key: readers[19]!.entry.key, events: 'delete' });
    expect(late.decision).toEqual({ kind: 'watch-key', key: 'n/2', events: 'delete' });
    expect(model.wakes.at(-1)!.change).toEqual({ type: 'delete', key: 'n/1' });
    expect(model.wakes.at(-1)!.woken).toEqual(readers);
  });
});
