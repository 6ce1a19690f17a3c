import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LockTimeoutError, LockUpgradeError, Mutex, RWMutex, type Lock } from '../../lib/index.js';
import { client, etcdctlProcess, keysUnder, lineMatching, session, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';

/** Starts an acquisition and notes when it resolves, without awaiting it. */
function track(pending: Promise<Lock>): { lock: Promise<Lock>; granted: () => boolean } {
  let done = false;
  const lock = pending.then(l => ((done = true), l));
  lock.catch(() => undefined);
  return { lock, granted: () => done };
}

describe('RWMutex', () => {
  it('readers share the lock; their keys say .read', async () => {
    const c = client();
    const name = uniqueName('rw');
    const [a, b] = await Promise.all([session(c), session(c)]);
    const ra = await new RWMutex(a, name).readLock();
    const rb = await new RWMutex(b, name).readLock({ timeout: 5000 });
    expect([ra.key, rb.key]).toEqual([`${name}/${a.leaseId}.read`, `${name}/${b.leaseId}.read`]);
    expect(rb.fencingToken).toBeGreaterThan(ra.fencingToken);
    await ra.unlock();
    await rb.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('a writer excludes readers and writers, and waits for readers', async () => {
    const c = client();
    const name = uniqueName('rw');
    const [a, b] = await Promise.all([session(c), session(c)]);
    const w = await new RWMutex(a, name).writeLock();
    const other = new RWMutex(b, name);
    expect(await other.tryReadLock()).toBeNull();
    expect(await other.tryWriteLock()).toBeNull();
    await w.unlock();
    const r = (await other.tryReadLock())!;
    expect(r).not.toBeNull();
    expect(await new RWMutex(a, name).tryWriteLock()).toBeNull();
    const shared = await new RWMutex(a, name).tryReadLock();
    expect(shared).not.toBeNull();
    await shared!.unlock();
    await r.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('a writer’s release admits every reader queued behind it at once, and no one else', async () => {
    const c = client();
    const name = uniqueName('rw');
    const w1 = await new RWMutex(await session(c), name).writeLock();
    const readers = [];
    for (let i = 0; i < 5; i++) {
      readers.push(track(new RWMutex(await session(c), name).readLock()));
      await waitForKeys(c, `${name}/`, i + 2);
    }
    const w2 = track(new RWMutex(await session(c), name).writeLock());
    await waitForKeys(c, `${name}/`, 7);
    const late = track(new RWMutex(await session(c), name).readLock());
    await waitForKeys(c, `${name}/`, 8);
    expect(readers.some(r => r.granted())).toBe(false);
    await w1.unlock();
    const held = await Promise.all(readers.map(r => r.lock));
    // The writer behind them and the reader behind that writer still wait: a newcomer reader too.
    expect(w2.granted() || late.granted()).toBe(false);
    expect(await new RWMutex(await session(c), name).tryReadLock()).toBeNull();
    for (const r of held) await r.unlock();
    const w = await w2.lock;
    expect(late.granted()).toBe(false);
    await w.unlock();
    await (await late.lock).unlock();
    await waitForNoKeys(c, `${name}/`);
  });

  it('serves readers and writers in arrival order', async () => {
    const c = client();
    const name = uniqueName('rw');
    const holder = await new RWMutex(await session(c), name).writeLock();
    const order: string[] = [];
    const modes = ['r1', 'r2', 'w3', 'r4', 'w5', 'w6', 'r7', 'r8'];
    const all: Promise<void>[] = [];
    for (const [i, label] of modes.entries()) {
      const rw = new RWMutex(await session(c), name);
      const pending = label.startsWith('r') ? rw.readLock() : rw.writeLock();
      all.push(
        pending.then(async lock => {
          order.push(label);
          // Readers of one group release together once all of them are in.
          await lock.unlock();
        }),
      );
      await waitForKeys(c, `${name}/`, i + 2);
    }
    await holder.unlock();
    await Promise.all(all);
    const groups = ['r1 r2', 'w3', 'r4', 'w5', 'w6', 'r7 r8'];
    const joined = order.join(' ');
    // Within a group of readers the order may vary; the groups come in arrival order.
    expect(joined.replace('r2 r1', 'r1 r2').replace('r8 r7', 'r7 r8')).toBe(groups.join(' '));
  });

  it('`etcdctl lock` on the same name counts as a writer, both ways', async () => {
    const c = client();
    const name = uniqueName('rw');
    const held = etcdctlProcess(['lock', name]);
    await lineMatching(held, new RegExp(`^${name}/`));
    const rw = new RWMutex(await session(c), name);
    expect(await rw.tryReadLock()).toBeNull();
    const reading = rw.readLock();
    await waitForKeys(c, `${name}/`, 2);
    held.kill('SIGINT');
    await once(held, 'exit');
    const r = await reading;
    const waiting = etcdctlProcess(['lock', name]);
    const got = lineMatching(waiting, new RegExp(`^${name}/`));
    await waitForKeys(c, `${name}/`, 2);
    expect(waiting.exitCode).toBeNull();
    await r.unlock();
    await got;
    waiting.kill('SIGINT');
    await once(waiting, 'exit');
  });

  it('a Mutex on the same name is a writer', async () => {
    const c = client();
    const name = uniqueName('rw');
    const s = await session(c);
    const r = await new RWMutex(s, name).readLock();
    expect(await new Mutex(await session(c), name).tryLock()).toBeNull();
    await r.unlock();
    const m = await new Mutex(await session(c), name).lock();
    expect(await new RWMutex(s, name).tryReadLock()).toBeNull();
    await m.unlock();
  });

  it('re-enters inside a write hold; inside a read hold a write rejects at once with LockUpgradeError', async () => {
    const c = client();
    const name = uniqueName('rw');
    const s = await session(c);
    const rw = new RWMutex(s, name);
    await rw.withWriteLock(async outer => {
      const read = await rw.readLock({ timeout: 1000 });
      const write = await rw.tryWriteLock();
      expect([read.key, write!.key]).toEqual([outer.key, outer.key]);
      await read.unlock();
      await write!.unlock();
      expect(outer.held).toBe(true);
    });
    await rw.withReadLock(async outer => {
      const again = await rw.readLock({ timeout: 1000 });
      expect(again.key).toBe(outer.key);
      await again.unlock();
      const error = await rw.writeLock().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockUpgradeError);
      expect((error as LockUpgradeError).key).toBe(outer.key);
      await expect(rw.tryWriteLock()).rejects.toBeInstanceOf(LockUpgradeError);
      await expect(new Mutex(s, name).lock()).rejects.toBeInstanceOf(LockUpgradeError);
      expect(await keysUnder(c, `${name}/`)).toEqual([[outer.key, outer.fencingToken]]);
    });
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('a waiting reader that times out or aborts leaves no key', async () => {
    const c = client();
    const name = uniqueName('rw');
    const w = await new RWMutex(await session(c), name).writeLock();
    const rw = new RWMutex(await session(c), name);
    await expect(rw.readLock({ timeout: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
    const controller = new AbortController();
    const pending = rw.readLock({ signal: controller.signal });
    await waitForKeys(c, `${name}/`, 2);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([w.key]);
    await w.unlock();
  });
});
