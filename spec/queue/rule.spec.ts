import { describe, expect, it } from 'vitest';
import { decide, type Page } from '../../lib/queue/read.js';
import { exclusive, type Entry } from '../../lib/queue/rule.js';

const entry = (key: string, createRevision: number): Entry => ({ key: `n/${key}`, createRevision: BigInt(createRevision), value: Buffer.alloc(0) });

describe('the exclusive rule (no etcd)', () => {
  const me = entry('me', 10);

  it('grants the head of a complete queue', () => {
    expect(exclusive.decide(me, [], true)).toEqual({ kind: 'granted' });
  });

  it('asks for more when the page it saw may not be the whole queue', () => {
    expect(exclusive.decide(me, [], false)).toEqual({ kind: 'more' });
  });

  it('watches only the deletion of the immediate predecessor, whatever else is ahead', () => {
    const older = [entry('b', 9), entry('a', 3)];
    expect(exclusive.decide(me, older, false)).toEqual({ kind: 'watch-key', key: 'n/b', events: 'delete' });
    expect(exclusive.decide(me, older, true)).toEqual({ kind: 'watch-key', key: 'n/b', events: 'delete' });
  });

  it('in a random queue every waiter watches a different key, so a release wakes exactly one', () => {
    for (let round = 0; round < 100; round++) {
      const n = 1 + Math.floor(Math.random() * 30);
      const queue = Array.from({ length: n }, (_, i) => entry(`k${i}`, 1 + i * (1 + Math.floor(Math.random() * 5))));
      const decisions = queue.map((e, i) => exclusive.decide(e, queue.slice(0, i).reverse(), true));
      expect(decisions.filter(d => d.kind === 'granted')).toHaveLength(1);
      const watched = decisions.flatMap(d => (d.kind === 'watch-key' ? [d.key] : []));
      expect(new Set(watched).size).toBe(watched.length);
    }
  });
});

describe('reading pages for a rule (no etcd)', () => {
  const me = entry('me', 50);
  const page = (entries: Entry[], more: boolean): Page => ({ entries, more, oldest: entries.at(-1)?.createRevision });

  it('decides from the first page when it shows a predecessor, reading nothing more', async () => {
    const reads: bigint[] = [];
    const decision = await decide(exclusive, me, page([me, entry('p', 40)], true), async max => {
      reads.push(max);
      return page([], false);
    });
    expect(decision).toMatchObject({ kind: 'watch-key', key: 'n/p' });
    expect(reads).toEqual([]);
  });

  it('reads older pages below the oldest key seen, skipping keys created after ours', async () => {
    const reads: bigint[] = [];
    const decision = await decide(exclusive, me, page([entry('newer', 60), me], true), async max => {
      reads.push(max);
      return page([entry('old', 20)], false);
    });
    expect(reads).toEqual([49n]);
    expect(decision).toMatchObject({ kind: 'watch-key', key: 'n/old' });
  });
});
