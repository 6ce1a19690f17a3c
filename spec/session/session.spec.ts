import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  EtcdUnavailableError,
  InvalidArgumentError,
  LeaseLostError,
  Mutex,
  OwnershipLostError,
  Session,
  SessionClosedError,
} from '../../lib/index.js';
import { aborted, client, endpoints, etcdctl, keysUnder, session, uniqueName } from '../support/etcd.js';
import { given } from '../support/capabilities.js';
import { revokeLease } from '../support/faults.js';

describe('Session', () => {
  given('etcdctl').it('grants a lease whose hex id etcd knows, with the TTL granted', async () => {
    const c = client();
    const s = await session(c, { ttl: 7 });
    expect(s.leaseId).toMatch(/^[0-9a-f]+$/);
    expect(BigInt(`0x${s.leaseId}`).toString()).toBe(s.lease);
    expect(s.ttl).toBe(7);
    const out = await etcdctl(['lease', 'timetolive', s.leaseId]);
    // etcdctl prints lease ids zero-padded to 16 digits; keys (Go's %x) carry them unpadded.
    expect(out).toMatch(new RegExp(`lease 0*${s.leaseId} granted with TTL\\(7s\\)`));
    expect(s.remainingMs).toBeGreaterThan(0);
    expect(s.keepAliveOverdue).toBe(false);
  });

  given('etcdctl').it('serves many locks on one lease', async () => {
    const c = client();
    const s = await session(c);
    const names = [uniqueName(), uniqueName(), uniqueName()];
    const locks = await Promise.all(names.map(n => new Mutex(s, n).lock()));
    expect(new Set(locks.map(l => l.leaseId))).toEqual(new Set([s.leaseId]));
    const out = await etcdctl(['lease', 'timetolive', '--keys', s.leaseId]);
    for (const lock of locks) expect(out).toContain(lock.key);
    await Promise.all(locks.map(l => l.unlock()));
  });

  it('signal aborts with LeaseLostError when the lease is revoked with etcdctl, and every lock on it is lost', async () => {
    const c = client();
    const s = await session(c, { ttl: 30 });
    const lock = await new Mutex(s, uniqueName()).lock();
    await revokeLease(endpoints(), s.leaseId);
    const reason = await aborted(s.signal);
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect((reason as LeaseLostError).reason).toBe('revoked');
    expect((reason as LeaseLostError).leaseId).toBe(s.leaseId);
    expect(lock.signal.aborted).toBe(true);
    expect(lock.signal.reason).toBeInstanceOf(OwnershipLostError);
    expect(lock.held).toBe(false);
    // A lost session refuses new work with its reason.
    await expect(new Mutex(s, uniqueName()).lock()).rejects.toBe(reason);
  });

  it('lock() right after an external revoke rejects with LeaseLostError and ends the session at once', async () => {
    const c = client();
    const s = await session(c, { ttl: 30 });
    await revokeLease(endpoints(), s.leaseId);
    // Before the next keepalive (10 s away) could tell: etcd refuses the write on the dead lease.
    const error = await new Mutex(s, uniqueName()).lock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseLostError).reason).toBe('revoked');
    expect(s.signal.reason).toBe(error);
  });

  given('etcdctl').it('close() revokes the lease: keys go at once, signals abort with SessionClosedError', async () => {
    const c = client();
    const s = await Session.create(c, { ttl: 30 });
    const name = uniqueName();
    const lock = await new Mutex(s, name).lock();
    await s.close();
    expect(s.signal.reason).toBeInstanceOf(SessionClosedError);
    expect(lock.signal.reason).toBeInstanceOf(OwnershipLostError);
    expect((lock.signal.reason as OwnershipLostError).cause).toBe(s.signal.reason);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
    await expect(etcdctl(['lease', 'timetolive', s.leaseId])).resolves.toContain('already expired');
    await s.close(); // idempotent
    await lock.unlock(); // releasing a lock of a closed session is harmless
  });

  given('etcdctl').it('supports await using', async () => {
    const c = client();
    let leaseId = '';
    {
      await using s = await Session.create(c, { ttl: 30 });
      leaseId = s.leaseId;
    }
    await expect(etcdctl(['lease', 'timetolive', leaseId])).resolves.toContain('already expired');
  });

  it('closing a session after its client was closed is a no-op (await using at the end of a scope)', async () => {
    const c = new Etcd3({ hosts: endpoints() });
    const name = uniqueName('closed-client');
    let signal: AbortSignal;
    {
      await using s = await Session.create(c, { ttl: 30 });
      signal = s.signal;
      await (await new Mutex(s, name).lock()).unlock();
      c.close();
    }
    expect(await aborted(signal)).toBeInstanceOf(SessionClosedError);
  });

  describe('bad input', () => {
    it.each([0, -1, 1.5, Number.NaN, '10', Infinity])('rejects ttl %s with the value in the message', async ttl => {
      const error = await Session.create(client(), { ttl: ttl as number }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).argument).toBe('ttl');
      expect((error as Error).message).toContain(`Got: ${typeof ttl === 'string' ? JSON.stringify(ttl) : String(ttl)}`);
    });

    it('rejects bad timeouts', async () => {
      await expect(Session.create(client(), { timeout: -5 })).rejects.toThrow(/timeout .*Got: -5/);
      await expect(Session.create(client(), { callTimeout: Number.NaN })).rejects.toThrow(InvalidArgumentError);
    });

    it('fails within its timeout when the cluster is unreachable', async () => {
      // A port nothing listens on: connections are refused at once and retried until the timeout.
      const unreachable = new Etcd3({ hosts: 'http://127.0.0.1:1' });
      try {
        const started = Date.now();
        const error = await Session.create(unreachable, { timeout: 1500 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EtcdUnavailableError);
        expect(Date.now() - started).toBeLessThan(1500 + 1000);
      } finally {
        unreachable.close();
      }
    });

    it('rejects with signal.reason when aborted during creation', async () => {
      const reason = new Error('stop');
      await expect(Session.create(client(), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    });
  });
});
