import { Election, Mutex } from '../../lib/index.js';
import { leadershipHeld, lockContract, lockHeld, viewedAs } from './contract.js';

lockContract(
  viewedAs(lockHeld, {
    title: 'Mutex',
    acquire: (session, name, options) => new Mutex(session, name).lock(options),
    tryAcquire: (session, name) => new Mutex(session, name).tryLock(),
  }),
);

lockContract(
  viewedAs(leadershipHeld, {
    title: 'Election',
    acquire: (session, name, options) => new Election(session, name).campaign('candidate', options),
    // An election has no try: a campaign that must not wait is one with a timeout of 0.
    tryAcquire: (session, name) => new Election(session, name).campaign('candidate', { timeout: 0 }).catch(() => null),
  }),
);
