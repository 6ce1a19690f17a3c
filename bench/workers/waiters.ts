/**
 * A process full of waiters on one lock, for the queue-scale case. Commands on stdin (JSON lines):
 * `{"cmd":"join","name":N,"count":k}` starts k `lock()` calls on N; each waiter, once it holds the
 * lock, stamps the time, releases at once and stamps the release call. When all k are done it
 * sends `{"type":"done","records":[[token, acquiredAt, releasedAt], …]}`. Times are monotonic ms,
 * comparable across processes. `{"cmd":"exit"}` closes the session and exits.
 */
import { Etcd3 } from 'etcd3';
import { Mutex, Session } from '../../lib/index.js';
import { clock } from '../support/clock.js';
import { commands, emit, endpoints, survivePromiseBugs } from './io.js';

survivePromiseBugs();

const client = new Etcd3({ hosts: endpoints() });
// Hundreds of joins at once on a busy 2-core machine: give each call more than the default 5 s.
const session = await Session.create(client, { ttl: 30, callTimeout: 30_000 });
emit({ type: 'ready', leaseId: session.leaseId });

for await (const command of commands()) {
  if (command.cmd === 'join') {
    const mutex = new Mutex(session, String(command.name));
    const count = Number(command.count);
    const waiters = Array.from({ length: count }, async (): Promise<[string, number, number]> => {
      const lock = await mutex.lock();
      const acquiredAt = clock();
      const token = lock.fencingToken.toString();
      const releasedAt = clock();
      await lock.unlock();
      return [token, acquiredAt, releasedAt];
    });
    emit({ type: 'issued' });
    void Promise.all(waiters).then(
      records => emit({ type: 'done', records }),
      // Reported as 'done' with the error, so the case fails instead of waiting for ever.
      (error: unknown) => emit({ type: 'done', records: [], error: String(error) }),
    );
  } else if (command.cmd === 'exit') {
    break;
  }
}
await session.close();
client.close();
process.exit(0);
