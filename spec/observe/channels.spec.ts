import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import {
  Election,
  LeaseLostError,
  LockTimeoutError,
  Mutex,
  OwnershipLostError,
  channelNames,
  type AcquiredMessage,
  type LeaderChangedMessage,
  type LostMessage,
  type ReleasedMessage,
  type SessionLostMessage,
  type WaitFailedMessage,
  type WaitStartMessage,
} from '../../lib/index.js';
import { aborted, client, defer, session, uniqueName, waitForKeys } from '../support/etcd.js';

/** Collects the messages of `channel` for the current test. */
function listen<T>(channel: string): T[] {
  const messages: T[] = [];
  const onMessage = (message: unknown): void => void messages.push(message as T);
  subscribe(channel, onMessage);
  defer(async () => unsubscribe(channel, onMessage));
  return messages;
}

/** The messages about `name`. */
const about = <T extends { name: string }>(messages: T[], name: string): T[] => messages.filter(m => m.name === name);

describe('diagnostics channels', () => {
  it('wait-start: a lock() names its kind, lock and lease as it starts', async () => {
    const messages = listen<WaitStartMessage>(channelNames.waitStart);
    const s = await session(client());
    const name = uniqueName();
    const locking = new Mutex(s, name).lock();
    expect(about(messages, name)).toEqual([{ kind: 'mutex', name, leaseId: s.leaseId }]);
    await (await locking).unlock();
  });

  it('acquired: the key, the fencing token and the time waited', async () => {
    const messages = listen<AcquiredMessage>(channelNames.acquired);
    const s = await session(client());
    const name = uniqueName();
    const lock = await new Mutex(s, name).lock();
    expect(about(messages, name)).toEqual([
      { kind: 'mutex', name, key: lock.key, leaseId: s.leaseId, fencingToken: lock.fencingToken, waitMs: expect.any(Number) },
    ]);
    expect(messages[0]!.waitMs).toBeGreaterThan(0);
    await lock.unlock();
  });

  it('wait-failed: a timeout, an abort and a taken tryLock(), each with its outcome', async () => {
    const messages = listen<WaitFailedMessage>(channelNames.waitFailed);
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const s = await session(c);
    const timeout = await new Mutex(s, name).lock({ timeout: 200 }).catch((error: unknown) => error);
    expect(timeout).toBeInstanceOf(LockTimeoutError);
    const abort = new AbortController();
    const waiting = new Mutex(s, name).lock({ signal: abort.signal }).catch((error: unknown) => error);
    await waitForKeys(c, `${name}/`, 2);
    abort.abort(new Error('changed my mind'));
    const abortError = await waiting;
    expect(await new Mutex(s, name).tryLock()).toBeNull();
    expect(about(messages, name).map(m => [m.outcome, m.error, m.leaseId])).toEqual([
      ['timeout', timeout, s.leaseId],
      ['aborted', abortError, s.leaseId],
      ['busy', undefined, s.leaseId],
    ]);
    expect(messages[0]!.waitMs).toBeGreaterThanOrEqual(190);
    await holder.unlock();
  });

  it('released: unlock() ends the hold, with the time held', async () => {
    const messages = listen<ReleasedMessage>(channelNames.released);
    const s = await session(client());
    const name = uniqueName();
    const lock = await new Mutex(s, name).lock();
    expect(messages).toEqual([]);
    await lock.unlock();
    expect(about(messages, name)).toEqual([
      { kind: 'mutex', name, key: lock.key, leaseId: s.leaseId, fencingToken: lock.fencingToken, heldMs: expect.any(Number) },
    ]);
  });

  it('lost: a holder whose key is deleted from outside hears why', async () => {
    const messages = listen<LostMessage>(channelNames.lost);
    const c = client();
    const s = await session(c);
    const name = uniqueName();
    const lock = await new Mutex(s, name).lock();
    await c.delete().key(lock.key);
    await aborted(lock.signal);
    const [message] = about(messages, name);
    expect(message).toMatchObject({ kind: 'mutex', name, key: lock.key, leaseId: s.leaseId, fencingToken: lock.fencingToken, reason: 'deleted' });
    expect(message!.error).toBeInstanceOf(OwnershipLostError);
    expect(message!.error).toBe(lock.signal.reason);
  });

  it('session-lost: a lease revoked from outside, not a session we close', async () => {
    const messages = listen<SessionLostMessage>(channelNames.sessionLost);
    const c = client();
    const closed = await session(c);
    await closed.close();
    const s = await session(c);
    await c.leaseClient.leaseRevoke({ ID: s.lease });
    await aborted(s.signal);
    const mine = messages.filter(m => m.leaseId === s.leaseId || m.leaseId === closed.leaseId);
    expect(mine).toEqual([{ leaseId: s.leaseId, reason: 'revoked', error: s.signal.reason }]);
    expect(mine[0]!.error).toBeInstanceOf(LeaseLostError);
  });

  it('leader-changed: campaign() won, then resign()', async () => {
    const messages = listen<LeaderChangedMessage>(channelNames.leaderChanged);
    const s = await session(client());
    const name = uniqueName('election');
    const leadership = await new Election(s, name).campaign('me');
    const common = { name, key: leadership.key, leaseId: s.leaseId, fencingToken: leadership.fencingToken };
    expect(about(messages, name)).toEqual([{ ...common, isLeader: true }]);
    await leadership.resign();
    expect(about(messages, name)).toEqual([
      { ...common, isLeader: true },
      { ...common, isLeader: false },
    ]);
  });
});
