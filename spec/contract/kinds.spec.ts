import { RWMutex, Semaphore, type Lock } from '../../lib/index.js';
import { lockContract, type Held } from './contract.js';

/** The contract's view of a Lock or Permit. */
function lockHeld(lock: Lock): Held {
  return {
    key: lock.key,
    fencingToken: lock.fencingToken,
    signal: lock.signal,
    release: () => lock.unlock(),
    guarded: () => lock.ifOwner(),
    [Symbol.asyncDispose]: () => lock[Symbol.asyncDispose](),
  };
}

lockContract({
  title: 'RWMutex (write)',
  acquire: async (session, name, options) => lockHeld(await new RWMutex(session, name).writeLock(options)),
  tryAcquire: async (session, name) => {
    const lock = await new RWMutex(session, name).tryWriteLock();
    return lock && lockHeld(lock);
  },
});

/**
 * Readers share, so two readers never exclude each other as the contract needs; readers alternate
 * with writers instead (per name: the 1st acquisition writes, the 2nd reads, …). Every waiter of
 * the contract after its first holder is then a reader behind a writer, and the FIFO test has
 * readers hold between writers.
 */
const turns = new Map<string, number>();
const readsNow = (name: string): boolean => {
  const n = turns.get(name) ?? 0;
  turns.set(name, n + 1);
  return n % 2 === 1;
};
lockContract({
  title: 'RWMutex (read, alternating with write)',
  acquire: async (session, name, options) => {
    const rw = new RWMutex(session, name);
    return lockHeld(await (readsNow(name) ? rw.readLock(options) : rw.writeLock(options)));
  },
  tryAcquire: async (session, name) => {
    const rw = new RWMutex(session, name);
    const lock = await (readsNow(name) ? rw.tryReadLock() : rw.tryWriteLock());
    return lock && lockHeld(lock);
  },
});

for (const permits of [1, 3]) {
  // With N > 1 every acquisition takes all N permits (weight N), so holds exclude each other as
  // the contract needs, through the N > 1 path: values, weights, the head waiter's prefix watch.
  lockContract({
    title: `Semaphore (N = ${permits}${permits > 1 ? `, weight ${permits}` : ''})`,
    acquire: async (session, name, options) => lockHeld(await new Semaphore(session, name, { permits }).acquire({ ...options, weight: permits })),
    tryAcquire: async (session, name) => {
      const permit = await new Semaphore(session, name, { permits }).tryAcquire({ weight: permits });
      return permit && lockHeld(permit);
    },
  });
}
