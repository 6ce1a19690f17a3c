import { describe, expect, it } from 'vitest';
import { Election, InvalidArgumentError, Mutex, queryLock } from '../../lib/index.js';
import { client, etcdctl, keysUnder, session, uniqueName, waitForKeys } from '../support/etcd.js';

describe('queryLock', () => {
  it('lists the holder, then the waiters in queue order, with lease, TTL left and fencing token', async () => {
    const c = client();
    const name = uniqueName();
    const holderSession = await session(c, { ttl: 30 });
    const holder = await new Mutex(holderSession, name).lock();
    const waiterSession = await session(c, { ttl: 20 });
    const waiting = new Mutex(waiterSession, name).lock();
    await waitForKeys(c, `${name}/`, 2);
    await etcdctl(['put', `${name}/sub/not-an-entry`, 'x']);

    const status = await queryLock(c, name);
    const [[, waiterToken]] = (await keysUnder(c, `${name}/`)).slice(1) as [[string, bigint]];
    expect(status.name).toBe(name);
    expect(status.held).toEqual([
      { key: holder.key, leaseId: holderSession.leaseId, ttl: expect.any(Number), fencingToken: holder.fencingToken, value: '' },
    ]);
    expect(status.pending).toEqual([
      { key: `${name}/${waiterSession.leaseId}`, leaseId: waiterSession.leaseId, ttl: expect.any(Number), fencingToken: waiterToken, value: '' },
    ]);
    expect(status.held[0]!.ttl).toBeGreaterThan(20);
    expect(status.held[0]!.ttl).toBeLessThanOrEqual(30);
    expect(status.pending[0]!.ttl).toBeLessThanOrEqual(20);
    expect(status.revision).toBeGreaterThanOrEqual(waiterToken);
    // No member carries fields of other kinds.
    expect(Object.keys(status.held[0]!)).not.toContain('mode');
    expect(Object.keys(status.held[0]!)).not.toContain('weight');

    await holder.unlock();
    await (await waiting).unlock();
  });

  it('reads an election: the leader holds, with its proclaimed value', async () => {
    const c = client();
    const name = uniqueName('election');
    const leadership = await new Election(await session(c), name).campaign('pod-a');
    const campaigning = new Election(await session(c), name).campaign('pod-b');
    await waitForKeys(c, `${name}/`, 2);
    const status = await queryLock(c, name, { kind: 'election' });
    expect(status.held.map(m => [m.key, m.value])).toEqual([[leadership.key, 'pod-a']]);
    expect(status.pending.map(m => m.value)).toEqual(['pod-b']);
    await leadership.resign();
    await (await campaigning).resign();
  });

  it('reads a name nobody uses as free, not as an error: etcd cannot tell it from a free lock', async () => {
    const status = await queryLock(client(), uniqueName('never-used'));
    expect(status.held).toEqual([]);
    expect(status.pending).toEqual([]);
  });

  it('refuses an unknown kind, naming it', async () => {
    await expect(queryLock(client(), uniqueName(), { kind: 'lattice' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(queryLock(client(), uniqueName(), { kind: 'lattice' as never })).rejects.toThrow(/kind must be one of mutex, election, rwlock, semaphore\. Got: lattice/);
  });
});
