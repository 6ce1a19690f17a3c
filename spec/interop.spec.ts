import { once } from 'node:events';
import { expect, it } from 'vitest';
import { Mutex } from '../lib/index.js';
import { client, completion, etcdctlProcess, lineMatching, session, uniqueName, waitForKeys } from './support/etcd.js';
import { given } from './support/capabilities.js';

given('localEtcdctl').describe('interop with etcdctl lock', () => {
  it('a lock held by `etcdctl lock N` excludes a Mutex on N until etcdctl lets go', async () => {
    const c = client();
    const name = uniqueName('interop');
    const held = etcdctlProcess(['lock', name]);
    const etcdctlKey = await lineMatching(held, new RegExp(`^${name}/`));
    const mutex = new Mutex(await session(c), name);
    expect(await mutex.tryLock()).toBeNull();

    const pending = mutex.lock();
    const keys = await waitForKeys(c, `${name}/`, 2);
    expect(keys[0]![0]).toBe(etcdctlKey);
    held.kill('SIGINT'); // etcdctl unlocks and closes its session on an interrupt
    await once(held, 'exit');
    const lock = await pending;
    expect(lock.fencingToken).toBeGreaterThan(keys[0]![1]);
    await lock.unlock();
  });

  it('a Mutex on N excludes `etcdctl lock N`, which gets the lock (and ETCD_LOCK_KEY/REV) after unlock()', async () => {
    const c = client();
    const name = uniqueName('interop');
    const lock = await new Mutex(await session(c), name).lock();
    const waiting = etcdctlProcess(['lock', name, '--', 'sh', '-c', 'echo "ran $ETCD_LOCK_KEY $ETCD_LOCK_REV"']);
    const done = completion(waiting);
    const keys = await waitForKeys(c, `${name}/`, 2);
    const [etcdctlKey, etcdctlRev] = keys[1]!;
    // etcdctl is queued behind us: its command has not run.
    expect(waiting.exitCode).toBeNull();
    await lock.unlock();
    const { code, lines } = await done;
    expect(code).toBe(0);
    // etcdctl sets ETCD_LOCK_REV to the store revision at which it acquired: after our release.
    const [ran, key, rev] = lines[0]!.split(' ');
    expect([ran, key]).toEqual(['ran', etcdctlKey]);
    expect(BigInt(rev!)).toBeGreaterThan(etcdctlRev);
    expect(etcdctlRev).toBeGreaterThan(lock.fencingToken);
  });
});
