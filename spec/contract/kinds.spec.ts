import { RWMutex, Semaphore } from '../../lib/index.js';
import { lockContract, lockHeld, viewedAs } from './contract.js';

lockContract(
  viewedAs(lockHeld, {
    title: 'RWMutex (write)',
    acquire: (session, name, options) => new RWMutex(session, name).writeLock(options),
    tryAcquire: (session, name) => new RWMutex(session, name).tryWriteLock(),
  }),
);

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
lockContract(
  viewedAs(lockHeld, {
    title: 'RWMutex (read, alternating with write)',
    acquire: (session, name, options) => {
      const rw = new RWMutex(session, name);
      return readsNow(name) ? rw.readLock(options) : rw.writeLock(options);
    },
    tryAcquire: (session, name) => {
      const rw = new RWMutex(session, name);
      return readsNow(name) ? rw.tryReadLock() : rw.tryWriteLock();
    },
  }),
);

for (const permits of [1, 3]) {
  // With N > 1 every acquisition takes all N permits (weight N), so holds exclude each other as
  // the contract needs, through the N > 1 path: values, weights, the head waiter's prefix watch.
  lockContract(
    viewedAs(lockHeld, {
      title: `Semaphore (N = ${permits}${permits > 1 ? `, weight ${permits}` : ''})`,
      acquire: (session, name, options) => new Semaphore(session, name, { permits }).acquire({ ...options, weight: permits }),
      tryAcquire: (session, name) => new Semaphore(session, name, { permits }).tryAcquire({ weight: permits }),
    }),
  );
}
