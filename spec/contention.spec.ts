import { describe, expect, it } from 'vitest';
import { client, completion, fixture, keysUnder, uniqueName } from './support/etcd.js';

describe('mutual exclusion across processes', () => {
  it('several processes contending lose no update made through ifOwner()', async () => {
    const c = client();
    const name = uniqueName('contended');
    const counter = `${name}-counter`;
    const processes = 4;
    const cycles = 15;
    const runs = await Promise.all(
      Array.from({ length: processes }, () => completion(fixture('contender.ts', [name, counter, String(cycles)]))),
    );
    const holds = runs.flatMap(run => run.lines.map(line => JSON.parse(line) as Record<string, unknown>)).filter(h => !h.done);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(holds).toHaveLength(processes * cycles);
    expect(holds.every(h => h.succeeded === true)).toBe(true);
    // Every hold read the value the previous hold wrote: sorted by fencing token, reads are 0..n-1.
    const byToken = holds.sort((a, b) => (BigInt(a.token as string) < BigInt(b.token as string) ? -1 : 1));
    expect(byToken.map(h => h.read)).toEqual(Array.from({ length: processes * cycles }, (_, i) => i));
    expect(await c.get(counter).string()).toBe(String(processes * cycles));
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
    await c.delete().key(counter);
  }, 120_000);
});

describe('process exit', () => {
  it('a process whose sessions were closed exits by itself', async () => {
    const name = uniqueName('exit');
    const run = await completion(fixture('exit-after-close.ts', [name]));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines[0]).toMatch(/^held /);
    expect(run.lines[1]).toBe('waiter: SessionClosedError');
    expect(run.lines[2]).toBe('closed');
    const c = client();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });
});
