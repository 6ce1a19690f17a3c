/**
 * Heap per held lock and per waiting lock, in a process of its own (run with --expose-gc):
 * `memory.ts <impl> <count>`, impl `ours` (Mutex), `etcd3-lock` (held only: it has no waiting
 * state) or `etcd3-election` (leaders held, followers waiting). Sends
 * `{"type":"memory", heldBytes, waitingBytes, …}` (bytes of heap per lock) and exits.
 */
import { Etcd3, type Campaign, type Lock as Etcd3Lock } from 'etcd3';
import { randomBytes } from 'node:crypto';
import { Mutex, Session, type Lock } from '../../lib/index.js';
import { waitForWatchQuiet, waitForWatchers } from '../support/etcd.js';
import { watchers } from '../support/metrics.js';
import { emit, endpoints, survivePromiseBugs } from './io.js';

survivePromiseBugs();

const [impl, countArg] = process.argv.slice(2) as ['ours' | 'etcd3-lock' | 'etcd3-election', string];
const count = Number(countArg);
const metricsUrls = (process.env.BENCH_METRICS_URLS ?? '').split(',').filter(Boolean);
const CLIENTS = Number(process.env.BENCH_MEMORY_CLIENTS ?? 1);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** The V8 heap in use and the external memory bound to it (Buffers, other C++ objects), in bytes. */
interface Heap {
  used: number;
  external: number;
}

function heap(): Heap {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { used: m.heapUsed, external: m.external };
}

/**
 * Bytes per lock of the `count` held ones (what grew from `h0` to `h1`) and of the `count` waiting
 * ones (from `h1` to `h2`), in the heap and outside it.
 */
function perLock(h0: Heap, h1: Heap, h2: Heap): { heldBytes: number; waitingBytes: number; heldExternal: number; waitingExternal: number } {
  return {
    heldBytes: (h1.used - h0.used) / count,
    waitingBytes: (h2.used - h1.used) / count,
    heldExternal: (h1.external - h0.external) / count,
    waitingExternal: (h2.external - h1.external) / count,
  };
}

/** Runs `fn` for 0..n-1, `width` at a time. */
async function inBatches<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < n; start += width) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - start) }, (_, k) => fn(start + k)))));
  }
  return out;
}

/** Waits until etcd counts `extra` more watchers than `base`, then until watch traffic stops. */
async function settle(base: number, extra: number): Promise<void> {
  if (metricsUrls.length === 0) return;
  if (!(await waitForWatchers(metricsUrls, base + extra, 120_000))) {
    process.stderr.write(`memory: etcd counts ${await watchers(metricsUrls)} watchers, expected ${base + extra}\n`);
  }
  await waitForWatchQuiet(metricsUrls);
}

const client = new Etcd3({ hosts: endpoints() });
const prefix = `bench/memory-${randomBytes(4).toString('hex')}`;
const names = Array.from({ length: count }, (_, i) => `${prefix}/${i}`);
const keep: unknown[] = [];
let base = metricsUrls.length ? await watchers(metricsUrls) : 0;
const started = Date.now();

if (impl === 'ours') {
  // One client, as an application has: the library pipelines a client's watch creations on one
  // stream (BENCH_MEMORY_CLIENTS spreads the locks over more clients, for comparison).
  const clients = [client, ...Array.from({ length: CLIENTS - 1 }, () => new Etcd3({ hosts: endpoints() }))];
  const holders = await Promise.all(clients.map(c => Session.create(c, { ttl: 30 })));
  const waiters = await Promise.all(clients.map(c => Session.create(c, { ttl: 30 })));
  // Warm up the code paths, so the baseline includes compiled code and the gRPC channels.
  // Warm each client's connection and watch stream on a throwaway session: its own-key watch
  // would otherwise linger after unlock() (it is kept for the next hold of the same key) and skew
  // the watcher count; closing the session cancels it.
  await Promise.all(
    clients.map(async c => {
      const warmSession = await Session.create(c, { ttl: 30 });
      const warm = await new Mutex(warmSession, `${prefix}/warm`).lock();
      await warm.unlock();
      await warmSession.close();
    }),
  );
  await settle(base, 0);
  base = metricsUrls.length ? await watchers(metricsUrls) : 0;
  const h0 = heap();
  const t0 = Date.now();
  const held: Lock[] = await inBatches(count, 500, i => new Mutex(holders[i % CLIENTS]!, names[i]!).lock());
  keep.push(held);
  await settle(base, count); // each holder watches its own key
  const t1 = Date.now();
  const h1 = heap();
  // Joined in batches: ten thousand lock() calls at once would queue longer in etcd than the
  // 5 s call deadline, and time out. A batch has joined once its keys exist.
  let failed = 0;
  const waiting: Promise<Lock | undefined>[] = [];
  for (let start = 0; start < count; start += 500) {
    for (let i = start; i < Math.min(count, start + 500); i++) {
      waiting.push(
        new Mutex(waiters[i % CLIENTS]!, names[i]!).lock().catch(() => {
          failed++;
          return undefined;
        }),
      );
    }
    while ((await client.getAll().prefix(`${prefix}/`).count()) - count < waiting.length - failed) {
      await new Promise(resolve => setTimeout(resolve, 20));
    }
  }
  keep.push(waiting);
  await settle(base, 3 * count); // each waiter watches its own key and its predecessor's
  const t2 = Date.now();
  const h2 = heap();
  emit({
    type: 'memory',
    ...perLock(h0, h1, h2),
    seconds: (Date.now() - started) / 1000,
    heldSetupSeconds: (t1 - t0) / 1000,
    waitingSetupSeconds: (t2 - t1) / 1000,
    clients: CLIENTS,
    failed,
  });
  await Promise.all(waiters.map(s => s.close().catch(() => undefined)));
  await Promise.all(holders.map(s => s.close().catch(() => undefined)));
  for (const c of clients) c.close();
} else if (impl === 'etcd3-lock') {
  const warm = await client.lock(`${prefix}/warm`).ttl(30).acquire();
  await warm.release();
  const h0 = heap();
  const held: Etcd3Lock[] = await inBatches(count, 100, i => client.lock(names[i]!).ttl(30).acquire());
  keep.push(held);
  const h1 = heap();
  emit({ type: 'memory', heldBytes: (h1.used - h0.used) / count, heldExternal: (h1.external - h0.external) / count, seconds: (Date.now() - started) / 1000 });
  await inBatches(count, 100, i => held[i]!.release()).catch(() => undefined);
} else {
  const warm = client.election(`${prefix}/warm`, 30).campaign('w');
  await warm.wait();
  await warm.resign();
  const h0 = heap();
  const leaders: Campaign[] = await inBatches(count, 100, async i => {
    const c = client.election(names[i]!, 30).campaign('leader');
    await c.wait();
    return c;
  });
  keep.push(leaders);
  const h1 = heap();
  const followers = names.map(name => client.election(name, 30).campaign('follower'));
  keep.push(followers);
  // A follower is in line once its key exists; then its watch follows.
  for (;;) {
    const n = await client.getAll().prefix('election/').prefix(`election/${prefix}/`).count();
    if (n >= 2 * count) break;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  if (metricsUrls.length) await waitForWatchQuiet(metricsUrls);
  const h2 = heap();
  emit({ type: 'memory', ...perLock(h0, h1, h2), seconds: (Date.now() - started) / 1000 });
  // etcd3's circuit breaker may open under this many revocations; the leases expire anyway.
  await inBatches(count, 100, i => followers[i]!.resign()).catch(() => undefined);
  await inBatches(count, 100, i => leaders[i]!.resign()).catch(() => undefined);
}
client.close();
process.exit(0);
