/**
 * A process full of waiters on one semaphore, for the semaphore-scale case. Commands on stdin
 * (JSON lines): `{"cmd":"join","name":N,"count":k,"permits":P}` starts k `acquire()` calls on N
 * with P permits; each waiter, once it holds, stamps the time, releases at once and stamps the
 * release call. When all k are done it
 * sends `{"type":"done","records":[[token, acquiredAt, releasedAt], …]}`. Times are monotonic ms,
 * comparable across processes. `{"cmd":"exit"}` closes the session and exits.
 */
import { Etcd3 } from 'etcd3';
import { Semaphore, Session } from '../../lib/index.js';
import { clock } from '../support/clock.js';
import { commands, emit, endpoints, survivePromiseBugs } from './io.js';

survivePromiseBugs();

const client = new Etcd3({ hosts: endpoints() });
// 500 joins at once per process: their creations may queue in etcd longer than the default 5 s.
const session = await Session.create(client, { ttl: 30, callTimeout: 30_000 });
emit({ type: 'ready', leaseId: session.leaseId });

for await (const command of commands()) {
  if (command.cmd === 'join') {
    const semaphore = new Semaphore(session, String(command.name), { permits: Number(command.permits) });
    const count = Number(command.count);
    const waiters = Array.from({ length: count }, async (): Promise<[string, number, number]> => {
      const lock = await semaphore.acquire();
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
        process.stderr.write(`permit-waiters ${process.pid}: ${(error as Error).stack ?? String(error)}\n`);
        emit({ type: 'failed', error: String(error) });
      },
    );
  } else if (command.cmd === 'exit') {
    break;
  }
}
await session.close();
client.close();
process.exit(0);
