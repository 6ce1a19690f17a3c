import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  LockTimeoutError,
  Mutex,
  NotHeldError,
  OwnershipLostError,
  SessionClosedError,
  type Lock,
} from '../../lib/index.js';
import { client, keysUnder, session, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';

describe('Mutex', () => {
  it('locks with etcd’s key layout and a fencing token equal to the key’s create revision', async () => {
    const c = client();
    const s = await session(c);
    const name = uniqueName();
    const lock = await new Mutex(s, name).lock();
    expect(lock.key).toBe(`${name}/${s.leaseId}`);
    const [[key, rev]] = (await keysUnder(c, `${name}/`)) as [[string, bigint]];
    expect(key).toBe(lock.key);
    expect(lock.fencingToken).toBe(rev);
    expect(typeof lock.fencingToken).toBe('bigint');
    await lock.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('serves N waiters exactly in arrival order', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      const mutex = new Mutex(await session(c), name);
      waiters.push(
        mutex.lock().then(async lock => {
          order.push(i);
          await lock.unlock();
        }),
      );
      // Arrival order is create-revision order: wait until this waiter's key exists.
      await waitForKeys(c, `${name}/`, i + 2);
    }
    await holder.unlock();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a predecessor that leaves early does not let its successor in ahead of the holder', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const early = new AbortController();
    const leaving = new Mutex(await session(c), name).lock({ signal: early.signal });
    await waitForKeys(c, `${name}/`, 2);
    let acquired = false;
    const last = new Mutex(await session(c), name).lock().then(lock => {
      acquired = true;
      return lock;
    });
    await waitForKeys(c, `${name}/`, 3);
    early.abort(new Error('leaving'));
    await expect(leaving).rejects.toThrow('leaving');
    // The early leaver's key is gone; the holder's is still there and the last waiter still waits.
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key, expect.any(String)]);
    expect(acquired).toBe(false);
    expect(holder.held).toBe(true);
    await holder.unlock();
    const lock = await last;
    expect(lock.fencingToken).toBeGreaterThan(holder.fencingToken);
    await lock.unlock();
  });

  it('tryLock returns a lock when free and null at once when held', async () => {
    const c = client();
    const name = uniqueName();
    const a = new Mutex(await session(c), name);
    const b = new Mutex(await session(c), name);
    const lock = await a.tryLock();
    expect(lock).not.toBeNull();
    expect(await b.tryLock()).toBeNull();
    expect((await keysUnder(c, `${name}/`)).length).toBe(1);
    await lock!.unlock();
    const second = await b.tryLock();
    expect(second).not.toBeNull();
    await second!.unlock();
  });

  it('timeout rejects with LockTimeoutError and leaves no key', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const waiter = new Mutex(await session(c), name);
    const error = await waiter.lock({ timeout: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).timeout).toBe(200);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key]);
    await holder.unlock();
    await waitForNoKeys(c, `${name}/`);
  });

  it('abort rejects with signal.reason and leaves no key; an aborted signal rejects at once', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const waiter = new Mutex(await session(c), name);
    const controller = new AbortController();
    const pending = waiter.lock({ signal: controller.signal });
    await waitForKeys(c, `${name}/`, 2);
    const reason = new Error('stop waiting');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key]);

    const already = AbortSignal.abort(new Error('already'));
    await expect(waiter.lock({ signal: already })).rejects.toThrow('already');
    expect((await keysUnder(c, `${name}/`)).length).toBe(1);
    await holder.unlock();
  });

  it('fencing tokens strictly increase from one holder to the next', async () => {
    const c = client();
    const name = uniqueName();
    const tokens: bigint[] = [];
    const mutexes = await Promise.all([1, 2, 3].map(async () => new Mutex(await session(c), name)));
    for (let round = 0; round < 3; round++) {
      for (const m of mutexes) {
        const lock = await m.lock();
        tokens.push(lock.fencingToken);
        await lock.unlock();
      }
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  });

  it('unlock never deletes a newer holder’s key', async () => {
    const c = client();
    const name = uniqueName();
    const s = await session(c);
    const first = await new Mutex(s, name).lock();
    await first.unlock();
    const second = await new Mutex(s, name).lock();
    expect(second.key).toBe(first.key);
    // A late or repeated unlock of the first hold is refused and leaves the new hold alone.
    await expect(first.unlock()).rejects.toBeInstanceOf(NotHeldError);
    expect(second.held).toBe(true);
    expect(await keysUnder(c, `${name}/`)).toEqual([[second.key, second.fencingToken]]);
    await second.unlock();
  });

  it('ifOwner commits only while the lock is held', async () => {
    const c = client();
    const name = uniqueName();
    const counter = `${name}-counter`;
    const lock = await new Mutex(await session(c), name).lock();
    const ok = await lock.ifOwner().then(c.put(counter).value('1')).commit();
    expect(ok.succeeded).toBe(true);
    await lock.unlock();
    const late = await lock.ifOwner().then(c.put(counter).value('2')).commit();
    expect(late.succeeded).toBe(false);
    expect(await c.get(counter).string()).toBe('1');
    await c.delete().key(counter);
  });

  it('re-enters from inside its own critical section, and queues an unrelated caller on the same session', async () => {
    const c = client();
    const name = uniqueName();
    const s = await session(c);
    const mutex = new Mutex(s, name);
    let entered!: (lock: Lock) => void;
    const inside = new Promise<Lock>(resolve => (entered = resolve));
    let leave!: () => void;
    const left = new Promise<void>(resolve => (leave = resolve));
    const section = mutex.withLock(async outer => {
      const inner = await mutex.lock({ timeout: 1000 });
      expect(inner.fencingToken).toBe(outer.fencingToken);
      expect(inner.key).toBe(outer.key);
      await mutex.withLock(async nested => expect(nested.fencingToken).toBe(outer.fencingToken));
      await inner.unlock();
      expect(outer.held).toBe(true);
      entered(outer);
      await left;
    });
    const outer = await inside;
    // Here, outside the critical section's async context, the same Mutex object waits its turn.
    const unrelated = mutex.lock();
    const keys = await waitForKeys(c, `${name}/`, 2);
    expect(keys.map(([k]) => k)).toEqual([outer.key, `${outer.key}_1`]);
    leave();
    await section;
    const lock = await unrelated;
    expect(lock.fencingToken).toBeGreaterThan(outer.fencingToken);
    await lock.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('withLock releases when the callback throws', async () => {
    const c = client();
    const name = uniqueName();
    const mutex = new Mutex(await session(c), name);
    await expect(mutex.withLock(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('supports await using', async () => {
    const c = client();
    const name = uniqueName();
    const mutex = new Mutex(await session(c), name);
    {
      await using lock = await mutex.lock();
      expect(lock.held).toBe(true);
    }
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('lock.signal aborts with OwnershipLostError when the key is deleted', async () => {
    const c = client();
    const name = uniqueName();
    const lock = await new Mutex(await session(c), name).lock();
    const lost = new Promise(resolve => lock.signal.addEventListener('abort', resolve));
    await c.delete().key(lock.key);
    await lost;
    expect(lock.signal.reason).toBeInstanceOf(OwnershipLostError);
    expect((lock.signal.reason as OwnershipLostError).reason).toBe('deleted');
    await lock.unlock();
  });

  it('a waiter whose own key is deleted fails with OwnershipLostError', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const waiterSession = await session(c);
    // Handled from the start: the rejection can come before the delete call returns.
    const waiting = new Mutex(waiterSession, name).lock().catch((e: unknown) => e);
    await waitForKeys(c, `${name}/`, 2);
    await c.delete().key(`${name}/${waiterSession.leaseId}`);
    expect(await waiting).toBeInstanceOf(OwnershipLostError);
    await holder.unlock();
  });

  describe('bad input', () => {
    it('rejects an empty or non-string name', async () => {
      const s = await session(client());
      expect(() => new Mutex(s, '')).toThrow(InvalidArgumentError);
      expect(() => new Mutex(s, '')).toThrow('Got: ""');
      expect(() => new Mutex(s, 42 as unknown as string)).toThrow('Got: 42');
    });

    it('rejects a bad timeout and signal', async () => {
      const mutex = new Mutex(await session(client()), uniqueName());
      await expect(mutex.lock({ timeout: -1 })).rejects.toThrow(InvalidArgumentError);
      await expect(mutex.lock({ timeout: Number.NaN })).rejects.toThrow('Got: NaN');
      await expect(mutex.lock({ signal: 'x' as unknown as AbortSignal })).rejects.toThrow(InvalidArgumentError);
    });

    it('rejects unlock of a lock not held', async () => {
      const lock = await new Mutex(await session(client()), uniqueName()).lock();
      await lock.unlock();
      const error = await lock.unlock().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotHeldError);
      expect((error as NotHeldError).key).toBe(lock.key);
    });

    it('rejects lock() on a closed session', async () => {
      const c = client();
      const s = await session(c);
      await s.close();
      await expect(new Mutex(s, uniqueName()).lock()).rejects.toBeInstanceOf(SessionClosedError);
      await expect(new Mutex(s, uniqueName()).tryLock()).rejects.toBeInstanceOf(SessionClosedError);
    });
  });
});
