import { describe, expect, it } from 'vitest';
import { RWMutex, Semaphore, queryLock } from '../../lib/index.js';
import { client, session, uniqueName, waitForKeys } from '../support/etcd.js';

describe('queryLock on the new kinds', () => {
  it('reports every reader ahead of the first writer as holding', async () => {
    const c = client();
    const name = uniqueName('query');
    const r1 = await new RWMutex(await session(c), name).readLock();
    const r2 = await new RWMutex(await session(c), name).readLock();
    const w = new RWMutex(await session(c), name).writeLock();
    await waitForKeys(c, `${name}/`, 3);
    const r3 = new RWMutex(await session(c), name).readLock();
    const keys = await waitForKeys(c, `${name}/`, 4);
    const status = await queryLock(c, name);
    expect(status.held.map(m => m.key)).toEqual([r1.key, r2.key]);
    expect(status.pending.map(m => m.key)).toEqual([keys[2]![0], keys[3]![0]]);
    await r1.unlock();
    await r2.unlock();
    await (await w).unlock();
    await (await r3).unlock();
  });

  it('reports as many semaphore entries as fit in its permits as holding', async () => {
    const c = client();
    const name = uniqueName('query');
    const a = await new Semaphore(await session(c), name, { permits: 3 }).acquire({ weight: 2 });
    const b = await new Semaphore(await session(c), name, { permits: 3 }).acquire();
    const waiting = new Semaphore(await session(c), name, { permits: 3 }).acquire();
    await waitForKeys(c, `${name}/`, 3);
    const status = await queryLock(c, name);
    expect(status.held.map(m => m.key)).toEqual([a.key, b.key]);
    expect(status.pending).toHaveLength(1);
    expect(JSON.parse(status.held[0]!.value)).toEqual({ permits: 3, weight: 2 });
    await a.unlock();
    await b.unlock();
    await (await waiting).unlock();
  });
});
