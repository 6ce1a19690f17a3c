// One process of `npm run demo` (demo/main.ts starts them): a shop that sells stock under a fair
// lock, or a scheduler replica that runs its job only while it is the elected leader. It reports
// what happens as JSON lines on stdout, which the demo turns into live progress.
//
//   node --import tsx demo/worker.ts shop <id> <prefix> [--frozen]
//   node --import tsx demo/worker.ts scheduler <id> <prefix>
//
// ETCD_ENDPOINTS says where etcd is; DEMO_TTL is the lease TTL in seconds (default 2).
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { LeaderElector, Mutex, Session, resilientClientOptions } from 'etcd-concurrency';

const [role, id, prefix] = process.argv.slice(2) as [string, string, string];
const frozen = process.argv.includes('--frozen');
const ttl = Number(process.env.DEMO_TTL ?? 2);
const client = new Etcd3(resilientClientOptions({ hosts: (process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') }));

const emit = (event: string, data: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, id, ...data })}\n`);
};

/** Lines from the demo on stdin: `go` to start selling, `write` to let a frozen shop carry on. */
let commands: AsyncIterator<string> | undefined;
const nextCommand = async (): Promise<string> => {
  commands ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  return String((await commands.next()).value ?? '');
};

/**
 * A shop: takes the lock, reads the stock, and sells one unit with one transaction guarded by
 * `lock.ifOwner()` (it commits only while we still hold the lock) that also records the order under
 * our fencing token. Until the stock is gone.
 */
async function shop(): Promise<void> {
  const session = await Session.create(client, { ttl });
  const mutex = new Mutex(session, `${prefix}/inventory`);
  const stockKey = `${prefix}/stock`;
  emit('ready');
  await nextCommand(); // "go": every shop starts at once, so they really compete
  for (;;) {
    const asked = performance.now();
    const lock = await mutex.lock();
    const waitedMs = Math.round(performance.now() - asked);
    const token = lock.fencingToken.toString();
    const stock = Number(await client.get(stockKey).string());
    if (stock <= 0) {
      emit('sold-out', { token });
      await lock.unlock();
      break;
    }
    if (frozen) {
      // The demo stops this process here with SIGSTOP (a long GC pause, a VM migration): it holds
      // the lock and has read the stock, but no keepalive goes out while it is frozen.
      emit('holding', { token, stock });
      await nextCommand();
    } else {
      await sleep(30 + Math.random() * 40); // take the payment
    }
    const { succeeded, header } = await lock
      .ifOwner()
      .then(
        client.put(stockKey).value(String(stock - 1)),
        client.put(`${prefix}/orders/${token}`).value(JSON.stringify({ shop: id, stockBefore: stock, token })),
      )
      .commit();
    if (!succeeded) {
      // Our key is gone: the lease expired while we were frozen and the lock moved on. etcd
      // refused the write, so the stock we read before the pause overwrote nothing.
      emit('rejected', { token, stock });
      break;
    }
    emit('sold', { token, stockBefore: stock, waitedMs, revision: header.revision });
    await lock.unlock();
  }
  await session.close().catch(() => undefined);
}

/**
 * A scheduler replica: campaigns with a LeaderElector, and while it leads, runs its job every
 * 250 ms, each run written through `leadership.ifLeader()`. SIGTERM resigns (the next replica
 * takes over at once); kill -9 leaves the lease to expire (the next takes over within the TTL).
 */
async function scheduler(): Promise<void> {
  const elector = new LeaderElector({
    client,
    name: `${prefix}/scheduler`,
    value: id,
    ttl,
    onStartedLeading: async (signal, leadership) => {
      emit('leading', { token: leadership.fencingToken.toString() });
      for (let run = 1; !signal.aborted; run++) {
        const { succeeded } = await leadership
          .ifLeader()
          .then(client.put(`${prefix}/last-run`).value(`${id} run ${run}`))
          .commit()
          .catch(() => ({ succeeded: false }));
        if (succeeded) emit('ran', { run });
        await sleep(250, undefined, { signal }).catch(() => undefined);
      }
    },
    onError: error => emit('recovering', { message: error.message }),
  });
  await elector.start();
  emit('ready');
  await new Promise<void>(resolve => process.once('SIGTERM', () => resolve()));
  await elector.stop();
  emit('resigned');
}

await (role === 'shop' ? shop() : scheduler());
client.close();
process.exit(0);
