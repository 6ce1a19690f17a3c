import { Election, Mutex, type Leadership, type Lock } from '../../lib/index.js';
import { lockContract, type Held } from './contract.js';

/** The contract's view of a Mutex hold. */
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

/** The contract's view of a leadership. */
function leadershipHeld(leadership: Leadership): Held {
  return {
    key: leadership.key,
    fencingToken: leadership.fencingToken,
    signal: leadership.signal,
    release: () => leadership.resign(),
    guarded: () => leadership.ifLeader(),
    [Symbol.asyncDispose]: () => leadership[Symbol.asyncDispose](),
  };
}

lockContract({
  title: 'Mutex',
  acquire: async (session, name, options) => lockHeld(await new Mutex(session, name).lock(options)),
  tryAcquire: async (session, name) => {
    const lock = await new Mutex(session, name).tryLock();
    return lock && lockHeld(lock);
  },
});

lockContract({
  title: 'Election',
  acquire: async (session, name, options) => leadershipHeld(await new Election(session, name).campaign('candidate', options)),
  tryAcquire: async (session, name) => {
    // An election has no try: a campaign that must not wait is one with a timeout of 0.
    const leadership = await new Election(session, name).campaign('candidate', { timeout: 0 }).catch(() => null);
    return leadership && leadershipHeld(leadership);
  },
});
