import { describe, expect, it } from 'vitest';
import { PermitsMismatchError } from '../../lib/errors.js';
import { parsePermitValue, permitValue, semaphoreRule } from '../../lib/queue/rules/semaphore.js';
import type { Entry } from '../../lib/queue/rule.js';
import { QueueModel, random, type Participant } from '../support/queue-model.js';
import { checkQueue } from './checks.js';

const entry = (key: string, rev: number, value = ''): Entry => ({ key, createRevision: BigInt(rev), value: Buffer.from(value) });
const permit = (key: string, rev: number, n: number, w = 1): Entry => entry(key, rev, permitValue(n, w));

describe('semaphore rule', () => {
  it('stores N and the weight as JSON, and reads only well-formed values', () => {
    expect(permitValue(3, 2)).toBe('{"permits":3,"weight":2}');
    expect(parsePermitValue(Buffer.from('{"permits":3,"weight":2}'))).toEqual({ permits: 3, weight: 2 });
    for (const bad of ['', 'x', '{', '{"permits":3}', '{"permits":2,"weight":3}', '{"permits":0,"weight":0}', '{"permits":1.5,"weight":1}']) {
      expect(parsePermitValue(Buffer.from(bad))).toBeUndefined();
    }
  });

  it('grants while the weights fit; the head waiter watches the prefix, others their predecessor', () => {
    const rule = semaphoreRule('n', 3, 1);
    const me = permit('n/z', 10, 3);
    expect(rule.decide(me, [permit('n/b', 5, 3), permit('n/a', 4, 3)], true)).toEqual({ kind: 'granted' });
    expect(rule.decide(me, [permit('n/b', 5, 3), permit('n/a', 4, 3)], false)).toEqual({ kind: 'more' });
    expect(rule.decide(me, [permit('n/c', 6, 3), permit('n/b', 5, 3), permit('n/a', 4, 3)], true)).toEqual({ kind: 'watch-prefix', events: 'delete' });
    const four = [permit('n/d', 7, 3), permit('n/c', 6, 3), permit('n/b', 5, 3), permit('n/a', 4, 3)];
    // Past N already: decided without reading further.
    expect(rule.decide(me, four, false)).toEqual({ kind: 'watch-key', key: 'n/d', events: 'all' });
    // A weighted entry: 2 + 2 > 3.
    expect(semaphoreRule('n', 3, 2).decide(permit('n/z', 10, 3, 2), [permit('n/a', 4, 3, 2)], true)).toEqual({ kind: 'watch-prefix', events: 'delete' });
  });

  it('a foreign entry (Mutex, etcdctl lock) weighs all N permits', () => {
    const rule = semaphoreRule('n', 3, 1);
    expect(rule.decide(permit('n/z', 10, 3), [entry('n/a', 4)], true)).toEqual({ kind: 'watch-prefix', events: 'delete' });
  });

  it('refuses a participant whose N differs from an older entry’s', () => {
    const decision = semaphoreRule('n', 3, 1).decide(permit('n/z', 10, 3), [permit('n/a', 4, 5)], true);
    if (decision.kind !== 'refuse') throw new Error(`refused expected, got ${decision.kind}`);
    const error = decision.error as PermitsMismatchError;
    expect(error).toBeInstanceOf(PermitsMismatchError);
    expect([error.permits, error.inForce, error.key]).toEqual([3, 5, 'n/a']);
  });

  it('random queues: at most N, FIFO, one watch each (the prefix only as head waiter), herd-free, no idle permit', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = random(seed);
      const n = 1 + Math.floor(rnd() * 5);
      const model = new QueueModel(true);
      let next = 0;
      for (let step = 0; step < 40; step++) {
        if (model.queue.length > 0 && rnd() < 0.45) {
          const holders = model.holders();
          const pick: Participant = holders.length > 0 && rnd() < 0.7 ? holders[Math.floor(rnd() * holders.length)]! : model.queue[Math.floor(rnd() * model.queue.length)]!;
          const wasHolder = pick.decision.kind === 'granted';
          await model.remove(pick);
          const wake = model.wakes.find(w => w.change.type === 'delete' && w.change.key === pick.entry.key)!;
          // A holder's release wakes the head waiter alone; a waiter leaving, also its successor.
          expect(wake.woken.length, `seed ${seed}`).toBeLessThanOrEqual(wasHolder ? 1 : 2);
        } else {
          const weight = rnd() < 0.7 ? 1 : 1 + Math.floor(rnd() * n);
          const key = `n/${(next++).toString(16)}`;
          await model.join(key, semaphoreRule('n', n, weight), permitValue(n, weight));
        }
        const held = model.holders().reduce((sum, p) => sum + parsePermitValue(p.entry.value)!.weight, 0);
        expect(held, `seed ${seed}`).toBeLessThanOrEqual(n);
        // A wake write wakes at most its successor.
        for (const w of model.wakes) if (w.change.type === 'put') expect(w.woken.length).toBeLessThanOrEqual(1);
        await checkQueue(model, true);
      }
    }
  });

  it('a release wakes one waiter however long the queue (10 or 1,000 waiters)', async () => {
    for (const waiters of [10, 1000]) {
      const model = new QueueModel(true);
      const rule = semaphoreRule('n', 3, 1);
      const all: Participant[] = [];
      for (let i = 0; i < 3 + waiters; i++) all.push(await model.join(`n/${i.toString(16)}`, rule, permitValue(3, 1)));
      const before = model.wakes.length;
      await model.remove(all[0]!);
      const woken = model.wakes.slice(before).reduce((sum, w) => sum + w.woken.length, 0);
      // The head waiter, then (after it writes its key once) its successor, which becomes head waiter.
      expect(woken).toBe(2);
      expect(model.holders()).toHaveLength(3);
    }
  });
});
