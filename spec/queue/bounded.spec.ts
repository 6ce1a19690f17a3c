import { describe, expect, it } from 'vitest';
import { HoldExpiredError, InvalidArgumentError, Mutex, OwnershipLostError, RWMutex, Semaphore } from '../../lib/index.js';
import { aborted, client, fixture, keysUnder, lineMatching, session, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';

/**
 * The bound this suite holds etcd to for a stuck holder: its key is gone at most this long after
 * the hold's end (etcd checks expired leases every 500 ms; the lease TTL is whole seconds, and the
 * hold's lease is granted one round trip after the grant).
 */
const SERVER_SLACK_MS = 1500;

describe('bounded holds (maxHold)', () => {
  it('the signal aborts with HoldExpiredError before the end, and the key is gone by then', async () => {
    const c = client();
    const name = uniqueName('bounded');
    const start = performance.now();
    const lock = await new Mutex(await session(c), name).lock({ maxHold: 1500 });
    const waiter = new Mutex(await session(c), name).lock();
    await waitForKeys(c, `${name}/`, 2);
    const reason = await aborted(lock.signal);
    const abortedAt = performance.now();
    expect(reason).toBeInstanceOf(HoldExpiredError);
    expect((reason as HoldExpiredError).heldFor).toBe(1500);
    // A tenth of the hold (150 ms) before its end: the key is still there.
    expect(abortedAt - start).toBeGreaterThanOrEqual(1350 - 5);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)[0]).toBe(lock.key);
    const next = await waiter;
    // The end is maxHold after the grant, which came after `start`.
    expect(performance.now() - start).toBeGreaterThanOrEqual(1500 - 5);
    expect(lock.held).toBe(false);
    await lock.unlock();
    await next.unlock();
    await waitForNoKeys(c, `${name}/`);
  });

  it('keeps the fencing token and the key; ifOwner works while held', async () => {
    const c = client();
    const name = uniqueName('bounded');
    const s = await session(c);
    const lock = await new RWMutex(s, name).writeLock({ maxHold: 10_000 });
    const [[key, rev]] = (await keysUnder(c, `${name}/`)) as [[string, bigint]];
    expect([key, rev]).toEqual([lock.key, lock.fencingToken]);
    // The key now lives on a lease of its own.
    const kv = (await c.getAll().prefix(`${name}/`).exec()).kvs[0]!;
    expect(kv.lease).not.toBe(s.lease);
    expect((await lock.ifOwner().then(c.put(`${name}-x`).value('1')).commit()).succeeded).toBe(true);
    await lock.unlock();
    await c.delete().key(`${name}-x`);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('extend() pushes the end out; after the end it rejects with the signal’s reason', async () => {
    const c = client();
    const name = uniqueName('bounded');
    const sem = new Semaphore(await session(c), name, { permits: 2 });
    const start = performance.now();
    const permit = await sem.acquire({ maxHold: 1000 });
    await permit.extend(1500);
    const reason = await aborted(permit.signal);
    expect(reason).toBeInstanceOf(HoldExpiredError);
    expect((reason as HoldExpiredError).heldFor).toBe(2500);
    expect(performance.now() - start).toBeGreaterThanOrEqual(2250 - 5);
    await expect(permit.extend(1000)).rejects.toBeInstanceOf(HoldExpiredError);
    await waitForNoKeys(c, `${name}/`);
    await permit.unlock();
  });

  it('extend() on a lost hold rejects with OwnershipLostError; on an unbounded one with InvalidArgumentError', async () => {
    const c = client();
    const name = uniqueName('bounded');
    const s = await session(c);
    const lock = await new Mutex(s, name).lock({ maxHold: 60_000 });
    await c.delete().key(lock.key);
    await aborted(lock.signal);
    await expect(lock.extend(1000)).rejects.toBeInstanceOf(OwnershipLostError);
    await lock.unlock();
    const plain = await new Mutex(s, name).lock();
    await expect(plain.extend(1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    await plain.unlock();
    await expect(new Mutex(s, name).lock({ maxHold: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a session closed during a bounded hold leaves no key once close() resolves', async () => {
    const c = client();
    const name = uniqueName('bounded');
    const s = await session(c);
    const lock = await new Mutex(s, name).lock({ maxHold: 60_000 });
    await s.close();
    expect(lock.signal.aborted).toBe(true);
    // The key is on the hold's own lease, which close() revokes before it resolves.
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  // A holder whose event loop is stuck (SIGSTOP): etcd removes its key by the end at the latest.
  for (const [label, ttl, maxHold] of [
    ['maxHold under the session TTL (the hold lease is never renewed)', 10, 3000],
    ['maxHold over the session TTL (the hold lease is renewed until end - TTL)', 2, 6000],
  ] as const) {
    it(`a stopped holder loses its key by maxHold + ${SERVER_SLACK_MS} ms: ${label}`, async () => {
      const c = client();
      const name = uniqueName('bounded');
      const child = fixture('permit-holder.ts', [name, '0', String(ttl), String(maxHold)]);
      await lineMatching(child, /^held /);
      const heldAt = performance.now();
      child.kill('SIGSTOP');
      const next = await new Mutex(await session(c), name).lock();
      const after = performance.now() - heldAt;
      if (process.env.BOUNDED_LOG) console.log(`stopped holder (ttl ${ttl}, maxHold ${maxHold}): successor in after ${after.toFixed(0)} ms`);
      // Stopped at once, the key goes when the hold lease runs out: min(maxHold, TTL) after the grant.
      expect(after).toBeLessThan(Math.min(maxHold, ttl * 1000) + SERVER_SLACK_MS);
      await next.unlock();
      child.kill('SIGKILL');
    });
  }
});
