/**
 * A process full of waiters on one lock, for the queue-scale cases (4 and 10). Commands on stdin
 * (JSON lines): `{"cmd":"join","name":N,"count":k,"kind":K,"permits":P}` starts k acquisitions of
 * N, `lock()` of a `Mutex` (K `"mutex"`) or `acquire()` of a `Semaphore` of P permits
 * (`"semaphore"`); each waiter, once it holds, stamps the time, releases at once and stamps the
 * release call. When all k are done it sends `{"type":"done","records":[[token, acquiredAt,
 * releasedAt], …]}`, or `done` with an `error` if one failed (so the case fails instead of waiting
 * for ever). Times are monotonic ms, comparable across processes. `{"cmd":"exit"}` closes the
 * session and exits.
 */
import { Etcd3 } from 'etcd3';
import { Mutex, Semaphore, Session, type Lock } from '../../lib/index.js';
import { clock } from '../support/clock.js';
import { commands, emit, endpoints, survivePromiseBugs } from './io.js';

survivePromiseBugs();

const client = new Etcd3({ hosts: endpoints() });
// Hundreds of joins at once on a busy 2-core machine: give each call more than the default 5 s.
const session = await Session.create(client, { ttl: 30, callTimeout: 30_000 });
emit({ type: 'ready', leaseId: session.leaseId });

/** The acquisition a join asks for. */
function acquirer(command: Record<string, unknown>): () => Promise<Lock> {
  const name = String(command.name);
  if (command.kind === 'semaphore') {
    const semaphore = new Semaphore(session, name, { permits: Number(command.permits) });
    return () => semaphore.acquire();
  }
  const mutex = new Mutex(session, name);
  return () => mutex.lock();
}

for await (const command of commands()) {
  if (command.cmd === 'join') {
    const acquire = acquirer(command);
    const waiters = Array.from({ length: Number(command.count) }, async (): Promise<[string, number, number]> => {
      const lock = await acquire();
      const acquiredAt = clock();
      const token = lock.fencingToken.toString();
      const releasedAt = clock();
      await lock.unlock();
      return [token, acquiredAt, releasedAt];
    });
    emit({ type: 'issued' });
    void Promise.all(waiters).then(
      records => emit({ type: 'done', records }),
      (error: unknown) => {
        process.stderr.write(`waiters ${process.pid}: ${(error as Error).stack ?? String(error)}\n`);
        emit({ type: 'done', records: [], error: String(error) });
      },
    );
  } else if (command.cmd === 'exit') {
    break;
  }
}
await session.close();
client.close();
process.exit(0);
