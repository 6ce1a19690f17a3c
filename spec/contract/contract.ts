import type { ComparatorBuilder, Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { LeaseLostError, LockTimeoutError, OwnershipLostError, SessionClosedError, type Leadership, type Lock, type Session } from '../../lib/index.js';
import { aborted, client, endpoints, keysUnder, session, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';
import { deleteKey, revokeLease } from '../support/faults.js';

/** A hold of any lock kind, as the contract sees it. */
export interface Held extends AsyncDisposable {
  readonly key: string;
  readonly fencingToken: bigint;
  readonly signal: AbortSignal;
  release(): Promise<void>;
  /** A transaction that commits only while the hold is ours (`ifOwner()`, `ifLeader()`). */
  guarded(): ComparatorBuilder;
}

/**
 * A lock kind, as the contract drives it. Every acquisition in one test uses the same name. `H` is
 * its hold: the contract takes {@link Held} ones, and {@link viewedAs} turns a kind's own into them.
 */
export interface Kind<H = Held> {
  readonly title: string;
  /** Waits for a hold that excludes every other hold the contract takes. */
  acquire(session: Session, name: string, options?: { signal?: AbortSignal; timeout?: number }): Promise<H>;
  /** Takes a hold only if that needs no waiting; else `null`. */
  tryAcquire(session: Session, name: string): Promise<H | null>;
}

/** The contract's view of a hold: its key, fencing token, signal and disposal, with `release` and `guarded` as given. */
function held(hold: Lock | Leadership, release: () => Promise<void>, guarded: () => ComparatorBuilder): Held {
  return {
    key: hold.key,
    fencingToken: hold.fencingToken,
    signal: hold.signal,
    release,
    guarded,
    [Symbol.asyncDispose]: () => hold[Symbol.asyncDispose](),
  };
}

/** The contract's view of a Lock: a Mutex's or an RWMutex's hold, or a Semaphore's Permit. */
export function lockHeld(lock: Lock): Held {
  return held(lock, () => lock.unlock(), () => lock.ifOwner());
}

/** The contract's view of a leadership. */
export function leadershipHeld(leadership: Leadership): Held {
  return held(leadership, () => leadership.resign(), () => leadership.ifLeader());
}

/** A kind whose acquisitions resolve with its own holds (a Lock, a Leadership), each seen through `view`. */
export function viewedAs<H>(view: (hold: H) => Held, kind: Kind<H>): Kind {
  return {
    title: kind.title,
    acquire: async (session, name, options) => view(await kind.acquire(session, name, options)),
    tryAcquire: async (session, name) => {
      const hold = await kind.tryAcquire(session, name);
      return hold === null ? null : view(hold);
    },
  };
}

/**
 * The guarantees every lock kind shares, on a real cluster: FIFO; try; timeout and abort leave no
 * key; a key deleted while waiting, a closed session and a lost lease each fail the wait with their
 * typed error; fencing tokens increase; a late release spares the next holder; `await using`
 * releases; and no wait ever resolves after it was given up (no zombie).
 */
export function lockContract(kind: Kind): void {
  describe(`contract: ${kind.title}`, () => {
    const c = (): Etcd3 => client();

    /**
     * A holder on a session of its own, and a second acquisition on session `s` waiting behind it:
     * resolves once both keys exist, with them, oldest first. `waiting` is that acquisition as it
     * is, its rejection marked handled from the start: it may come while the test's next call (a
     * delete, a close) is still under way.
     */
    const waiterBehindHolder = async (
      on: Etcd3,
      name: string,
      options?: { signal?: AbortSignal },
    ): Promise<{ holder: Held; s: Session; waiting: Promise<Held>; keys: [string, bigint][] }> => {
      const holder = await kind.acquire(await session(on), name);
      const s = await session(on);
      const waiting = kind.acquire(s, name, options);
      waiting.catch(() => undefined);
      const keys = await waitForKeys(on, `${name}/`, 2);
      return { holder, s, waiting, keys };
    };

    it('serves waiters in arrival order, one at a time', async () => {
      const on = c();
      const name = uniqueName('contract');
      const s = await session(on);
      const first = await kind.acquire(s, name);
      const order: number[] = [];
      const waiting: Promise<void>[] = [];
      for (let i = 0; i < 4; i++) {
        waiting.push(
          kind.acquire(await session(on), name).then(async held => {
            order.push(i);
            await held.release();
          }),
        );
        await waitForKeys(on, `${name}/`, i + 2);
      }
      await first.release();
      await Promise.all(waiting);
      expect(order).toEqual([0, 1, 2, 3]);
      expect(await keysUnder(on, `${name}/`)).toEqual([]);
    });

    it('try takes a free lock, returns null at once when held, and leaves no key', async () => {
      const on = c();
      const name = uniqueName('contract');
      const held = await kind.tryAcquire(await session(on), name);
      expect(held).not.toBeNull();
      expect(await kind.tryAcquire(await session(on), name)).toBeNull();
      expect(await keysUnder(on, `${name}/`)).toEqual([[held!.key, held!.fencingToken]]);
      await held!.release();
    });

    it('a timeout rejects with LockTimeoutError and leaves no key; 0 never waits', async () => {
      const on = c();
      const name = uniqueName('contract');
      const holder = await kind.acquire(await session(on), name);
      const s = await session(on);
      await expect(kind.acquire(s, name, { timeout: 50 })).rejects.toMatchObject({ name: 'LockTimeoutError', timeout: 50 });
      await expect(kind.acquire(s, name, { timeout: 0 })).rejects.toBeInstanceOf(LockTimeoutError);
      expect(await keysUnder(on, `${name}/`)).toEqual([[holder.key, holder.fencingToken]]);
      await holder.release();
      const free = await kind.acquire(s, name, { timeout: 0 });
      await free.release();
    });

    it('an abort rejects with the signal’s reason and leaves no key', async () => {
      const on = c();
      const name = uniqueName('contract');
      const quit = new AbortController();
      const { holder, waiting } = await waiterBehindHolder(on, name, { signal: quit.signal });
      const reason = new Error('changed my mind');
      quit.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(await keysUnder(on, `${name}/`)).toEqual([[holder.key, holder.fencingToken]]);
      await holder.release();
    });

    it('a waiter whose key is deleted rejects with OwnershipLostError (reason deleted)', async () => {
      const on = c();
      const name = uniqueName('contract');
      const { holder, waiting, keys } = await waiterBehindHolder(on, name);
      const [, [key]] = keys as [unknown, [string]];
      await deleteKey(endpoints(), key);
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'OwnershipLostError', reason: 'deleted', key });
      expect(error).toBeInstanceOf(OwnershipLostError);
      await holder.release();
      await waitForNoKeys(on, `${name}/`);
    });

    it('a closed session refuses to wait; closing it while waiting rejects with SessionClosedError', async () => {
      const on = c();
      const name = uniqueName('contract');
      const { holder, s, waiting } = await waiterBehindHolder(on, name);
      await s.close();
      expect(await waiting.catch((e: unknown) => e)).toBeInstanceOf(SessionClosedError);
      await expect(kind.acquire(s, name)).rejects.toBeInstanceOf(SessionClosedError);
      await holder.release();
      await waitForNoKeys(on, `${name}/`);
    });

    it('a waiter whose lease is revoked rejects with LeaseLostError (reason revoked)', async () => {
      const on = c();
      const name = uniqueName('contract');
      const { holder, s, waiting } = await waiterBehindHolder(on, name);
      await revokeLease(endpoints(), s.leaseId);
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toMatchObject({ reason: 'revoked', leaseId: s.leaseId });
      await holder.release();
    });

    it('fencing tokens increase; a guarded write commits only for the current holder; a late release spares the next', async () => {
      const on = c();
      const name = uniqueName('contract');
      const { holder: first, waiting: next } = await waiterBehindHolder(on, name);
      // Someone else removes the first holder's key: its signal aborts, the next one takes over.
      await deleteKey(endpoints(), first.key);
      expect(await aborted(first.signal)).toMatchObject({ reason: 'deleted' });
      const second = await next;
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
      expect((await first.guarded().then(on.put(`${name}-data`).value('stale')).commit()).succeeded).toBe(false);
      expect((await second.guarded().then(on.put(`${name}-data`).value('fresh')).commit()).succeeded).toBe(true);
      await first.release();
      expect(await keysUnder(on, `${name}/`)).toEqual([[second.key, second.fencingToken]]);
      await second.release();
      await on.delete().key(`${name}-data`);
    });

    it('await using releases the hold', async () => {
      const on = c();
      const name = uniqueName('contract');
      {
        await using held = await kind.acquire(await session(on), name);
        expect(held.signal.aborted).toBe(false);
        expect(await keysUnder(on, `${name}/`)).toHaveLength(1);
      }
      expect(await keysUnder(on, `${name}/`)).toEqual([]);
    });

    it('no zombie: a wait given up in the same instant its turn comes never resolves, and leaves no key', async () => {
      const on = c();
      const name = uniqueName('contract');
      for (let round = 0; round < 5; round++) {
        const quit = new AbortController();
        const { holder, waiting } = await waiterBehindHolder(on, name, { signal: quit.signal });
        const released = holder.release();
        quit.abort(new Error('gave up'));
        await released;
        expect(await waiting.catch((e: unknown) => e)).toMatchObject({ message: 'gave up' });
        await waitForNoKeys(on, `${name}/`);
      }
    });
  });
}
