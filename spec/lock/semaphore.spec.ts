import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LockTimeoutError, Mutex, PermitsMismatchError, Semaphore, type Permit } from '../../lib/index.js';
import { client, fixture, keysUnder, lineMatching, session, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';

/** Starts an acquisition and notes when it resolves, without awaiting it. */
function track(pending: Promise<Permit>): { permit: Promise<Permit>; granted: () => boolean } {
  let done = false;
  const permit = pending.then(p => ((done = true), p));
  permit.catch(() => undefined);
  return { permit, granted: () => done };
}

describe('Semaphore', () => {
  it('lets N in at once and queues the next; each key stores N and its weight', async () => {
    const c = client();
    const name = uniqueName('sem');
    const sems = await Promise.all([0, 1, 2].map(async () => new Semaphore(await session(c), name, { permits: 2 })));
    const a = await sems[0]!.acquire();
    const b = await sems[1]!.acquire({ timeout: 5000 });
    expect(await c.get(a.key).string()).toBe('{"permits":2,"weight":1}');
    expect([a.permits, a.weight, a.key]).toEqual([2, 1, `${name}/${sems[0]!.session.leaseId}`]);
    expect(await sems[2]!.tryAcquire()).toBeNull();
    const third = track(sems[2]!.acquire());
    await waitForKeys(c, `${name}/`, 3);
    await b.unlock();
    const p = await third.permit;
    expect(p.fencingToken).toBeGreaterThan(b.fencingToken);
    await a.unlock();
    await p.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('never more than N holders at once, as etcd sees it', async () => {
    const c = client();
    const name = uniqueName('sem');
    const n = 3;
    const sems = await Promise.all(Array.from({ length: 8 }, async () => new Semaphore(await session(c), name, { permits: n })));
    let holding = 0;
    let most = 0;
    const grants: bigint[] = [];
    await Promise.all(
      sems.map(async sem => {
        for (let round = 0; round < 3; round++) {
          await sem.withPermit(async permit => {
            holding++;
            most = Math.max(most, holding);
            grants.push(permit.fencingToken);
            // As etcd sees it: our key is among the N oldest.
            const keys = (await keysUnder(c, `${name}/`)).map(([k]) => k);
            expect(keys.indexOf(permit.key)).toBeLessThan(n);
            holding--;
          });
        }
      }),
    );
    expect(most).toBeLessThanOrEqual(n);
    expect(grants).toHaveLength(24);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('serves waiters first come, first served', async () => {
    const c = client();
    const name = uniqueName('sem');
    const holders = [await new Semaphore(await session(c), name, { permits: 2 }).acquire(), await new Semaphore(await session(c), name, { permits: 2 }).acquire()];
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      const sem = new Semaphore(await session(c), name, { permits: 2 });
      waiters.push(
        sem.acquire().then(async p => {
          order.push(i);
          await p.unlock();
        }),
      );
      await waitForKeys(c, `${name}/`, i + 3);
    }
    await holders[0]!.unlock();
    await holders[1]!.unlock();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('a weighted request is one entry, and lighter requests behind it do not overtake it', async () => {
    const c = client();
    const name = uniqueName('sem');
    const sem = async (): Promise<Semaphore> => new Semaphore(await session(c), name, { permits: 3 });
    const a = await (await sem()).acquire({ weight: 2 });
    const heavy = track((await sem()).acquire({ weight: 2 }));
    await waitForKeys(c, `${name}/`, 2);
    const light = track((await sem()).acquire({ weight: 1 }));
    await waitForKeys(c, `${name}/`, 3);
    // One permit is free, but the heavy request is ahead.
    expect(await (await sem()).tryAcquire()).toBeNull();
    await a.unlock();
    const [h, l] = await Promise.all([heavy.permit, light.permit]);
    expect([h.weight, l.weight]).toEqual([2, 1]);
    await h.unlock();
    await l.unlock();
    await expect((await sem()).acquire({ weight: 4 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a participant with another N with PermitsMismatchError, leaving no key', async () => {
    const c = client();
    const name = uniqueName('sem');
    const held = await new Semaphore(await session(c), name, { permits: 2 }).acquire();
    const other = new Semaphore(await session(c), name, { permits: 3 });
    const error = await other.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermitsMismatchError);
    expect([(error as PermitsMismatchError).permits, (error as PermitsMismatchError).inForce]).toEqual([3, 2]);
    await expect(other.tryAcquire()).rejects.toBeInstanceOf(PermitsMismatchError);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([held.key]);
    await held.unlock();
    // Once the old N has drained, a new N is in force.
    await (await other.acquire()).unlock();
  });

  it('a Mutex on the same name takes all N permits', async () => {
    const c = client();
    const name = uniqueName('sem');
    const m = await new Mutex(await session(c), name).lock();
    const sem = new Semaphore(await session(c), name, { permits: 5 });
    expect(await sem.tryAcquire()).toBeNull();
    await m.unlock();
    const p = await sem.acquire();
    expect(await new Mutex(await session(c), name).tryLock()).toBeNull();
    await p.unlock();
  });

  it('a waiter that times out or aborts leaves no key', async () => {
    const c = client();
    const name = uniqueName('sem');
    const held = await new Semaphore(await session(c), name, { permits: 1 }).acquire();
    const sem = new Semaphore(await session(c), name, { permits: 1 });
    await expect(sem.acquire({ timeout: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
    const controller = new AbortController();
    const pending = sem.acquire({ signal: controller.signal });
    await waitForKeys(c, `${name}/`, 2);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([held.key]);
    await held.unlock();
    await waitForNoKeys(c, `${name}/`);
  });

  it('a holder that crashes frees its permit when its lease expires', async () => {
    const c = client();
    const name = uniqueName('sem');
    const child = fixture('permit-holder.ts', [name, '1', '2', '0']);
    const key = (await lineMatching(child, /^held /)).slice('held '.length);
    const waiting = new Semaphore(await session(c), name, { permits: 1 }).acquire();
    await waitForKeys(c, `${name}/`, 2);
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const p = await waiting;
    // The lease (TTL 2 s) expires, etcd deletes the key, and the waiter gets in.
    expect(performance.now() - killedAt).toBeLessThan(4000);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([p.key]);
    expect(p.key).not.toBe(key);
    await p.unlock();
    await waitForNoKeys(c, `${name}/`);
  });

  it('rejects bad options', async () => {
    const s = await session(client());
    expect(() => new Semaphore(s, uniqueName(), { permits: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Semaphore(s, uniqueName(), { permits: 1.5 })).toThrow('Got: 1.5');
    expect(() => new Semaphore(s, uniqueName(), undefined as unknown as { permits: number })).toThrow(InvalidArgumentError);
    const sem = new Semaphore(s, uniqueName(), { permits: 2 });
    await expect(sem.acquire({ weight: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(sem.acquire({ maxHold: 0 })).rejects.toThrow(InvalidArgumentError);
  });
});
