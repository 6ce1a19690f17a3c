import { AsyncLocalStorage } from 'node:async_hooks';
import type { Session } from '../session/session.js';
import type { Hold } from './hold.js';


/**
 * The holds of the current async context: set by `withLock()` around its callback, so that code
 * inside a critical section re-enters the lock it already holds instead of deadlocking on itself,
 * while any other caller (even on the same session) queues like everyone else.
 */
const holds = new AsyncLocalStorage<ReadonlyMap<string, Hold>>();

function identity(session: Session, prefix: string): string {
  return `${session.client.prefix.toString('hex')}\0${session.leaseId}\0${prefix}`;
}

/** The hold of `prefix` on `session` in the current async context, if any. */
export function currentHold(session: Session, prefix: string): Hold | undefined {
  return holds.getStore()?.get(identity(session, prefix));
}

/** Runs `fn` with `hold` added to the holds of the current async context. */
export function runHolding<T>(hold: Hold, fn: () => T): T {
  const entry = hold.entry;
  const next = new Map(holds.getStore());
  next.set(identity(entry.session, entry.prefix), hold);
  return holds.run(next, fn);
}
