import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { EtcdLockFailedError, type Etcd3, type Watcher } from 'etcd3';
import { Mutex } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { clock, sleep } from '../support/clock.js';
import { describeWork, perOp, scrape, work } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '3 handoff';

/** One handoff: the holder holds, the waiter's key appears, the holder releases `delay` ms later. */
interface Contender {
  /** Takes the lock uncontended for the holder's side. */
  hold(): Promise<{ release(): Promise<void> }>;
  /** Starts waiting; resolves `started` once the waiter is in line, `acquired` with its time. */
  wait(): { started: Promise<number>; acquired: Promise<{ at: number; release(): Promise<void> }> };
}

/** Resolves at the monotonic time `at`. */
async function until(at: number): Promise<void> {
  const left = at - clock();
  if (left > 0) await sleep(left);
}

/** Calls `onPut(key, time)` for every key written under `prefix`, from a watch started now. */
async function observe(client: Etcd3, prefix: string, onPut: (key: string, at: number) => void): Promise<Watcher> {
  const watcher = await client.watch().prefix(prefix).only('put').create();
  watcher.on('put', kv => onPut(kv.key.toString(), clock()));
  return watcher;
}

/**
 * Case 3: from the holder's release call to the next waiter's acquisition resolving, with the
 * release 5, 20 and 200 ms after the waiter started waiting (its key exists in etcd). A plain put
 * follows each sample, for the ratio.
 */
export async function handoff(b: Bench): Promise<Row[]> {
  const rows: Row[] = [];
  const holderClient = b.client();
  const waiterClient = b.client();
  const observer = b.client();
  const delays = [5, 20, 200];
  const samplesFor = (delay: number, scale = 1): number =>
    Math.max(3, Math.round(scale * (delay >= 200 ? b.pick(5, 50) : b.pick(15, 150))));

  const run = async (subject: string, contender: Contender, scale: number, note: string, withTarget: boolean): Promise<void> => {
    for (const delay of delays) {
      const n = samplesFor(delay, scale);
      const handoffs: number[] = [];
      const puts: number[] = [];
      const lateness: number[] = [];
      const before = await scrape(b.metricsUrls);
      for (let i = 0; i < n + 2; i++) {
        const held = await contender.hold();
        const { started, acquired } = contender.wait();
        const startedAt = await started;
        await until(startedAt + delay);
        const releasedAt = clock();
        lateness.push(releasedAt - startedAt - delay);
        await held.release();
        const got = await acquired;
        if (i >= 2) handoffs.push(got.at - releasedAt); // the first two warm up
        await got.release();
        if (i >= 2) puts.push(await putOnce(holderClient, 'bench/put'));
      }
      const server = perOp(work(before, await scrape(b.metricsUrls)), n + 2);
      const s = summarize(handoffs);
      const p = summarize(puts);
      const r = s.median / p.median;
      rows.push({
        case: `${CASE}, release ${delay} ms after`,
        subject,
        unit: 'ms',
        summary: s,
        ratio: { median: r, p99: s.p99 / p.p99, of: 'put' },
        ...(withTarget ? { target: { text: '≤ 2.5× put', met: r <= 2.5 } } : {}),
        note: `${note}${note ? '; ' : ''}whole cycle: ${describeWork(server)}`,
        server,
        detail: { put: p, delay, releaseLateMs: summarize(lateness) },
      });
    }
  };

  // This library: two sessions on two clients, one lock name.
  {
    const name = b.name('handoff');
    const holder = new Mutex(await b.session(holderClient), name);
    const waiterSession = await b.session(waiterClient);
    const waiter = new Mutex(waiterSession, name);
    const waiterKey = `${name}/${waiterSession.leaseId}`;
    let keySeen: ((at: number) => void) | undefined;
    const watcher = await observe(observer, `${name}/`, (key, at) => {
      if (key === waiterKey) keySeen?.(at);
    });
    await run(
      'etcd-concurrency Mutex',
      {
        async hold() {
          const lock = await holder.lock();
          return { release: () => lock.unlock() };
        },
        wait() {
          const started = new Promise<number>(resolve => (keySeen = resolve));
          const acquired = waiter.lock().then(lock => ({ at: clock(), release: () => lock.unlock() }));
          return { started, acquired };
        },
      },
      1,
      '',
      true,
    );
    await watcher.cancel();
  }

  // etcd3's Lock: no queue, so the waiter retries at once after each EtcdLockFailedError (each
  // attempt grants a lease, tries a transaction and revokes the lease).
  {
    const name = b.name('etcd3-handoff');
    await run(
      'etcd3 Lock (retry at once)',
      {
        async hold() {
          const lock = await holderClient.lock(name).ttl(10).acquire();
          return { release: () => lock.release() };
        },
        wait() {
          let failed: ((at: number) => void) | undefined;
          const started = new Promise<number>(resolve => (failed = resolve));
          const acquired = (async () => {
            for (;;) {
              try {
                const lock = await waiterClient.lock(name).ttl(10).acquire();
                return { at: clock(), release: () => lock.release() };
              } catch (error) {
                if (!(error instanceof EtcdLockFailedError)) throw error;
                failed?.(clock());
                failed = undefined;
              }
            }
          })();
          return { started, acquired };
        },
      },
      0.5,
      'waiter in line = its first attempt failed',
      false,
    );
  }

  // etcd's Go concurrency.Mutex, as `etcdctl lock <name>` waiting behind our Mutex.
  if (etcdctlAvailable()) {
    const name = b.name('etcdctl-handoff');
    const holder = new Mutex(await b.session(holderClient), name);
    let keySeen: ((key: string, at: number) => void) | undefined;
    const watcher = await observe(observer, `${name}/`, (key, at) => keySeen?.(key, at));
    await run(
      'etcdctl lock (Go concurrency.Mutex)',
      {
        async hold() {
          const lock = await holder.lock();
          return { release: () => lock.unlock() };
        },
        wait() {
          const started = new Promise<number>(resolve => (keySeen = (_key, at) => resolve(at)));
          const child = spawn('etcdctl', [`--endpoints=${b.endpoints.join(',')}`, 'lock', name], {
            env: { ...process.env, ETCDCTL_API: '3' },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          const acquired = new Promise<{ at: number; release(): Promise<void> }>((resolve, reject) => {
            const rl = createInterface({ input: child.stdout });
            rl.once('line', () =>
              resolve({
                at: clock(),
                async release() {
                  const exited = once(child, 'exit');
                  child.kill('SIGTERM'); // etcdctl unlocks and exits on SIGTERM
                  await exited;
                },
              }),
            );
            child.once('exit', code => reject(new Error(`etcdctl lock exited (${code}) before acquiring`)));
          });
          acquired.catch(() => undefined);
          return { started, acquired };
        },
      },
      b.pick(0.2, 0.2),
      'waiter: etcdctl lock, holder: our Mutex',
      false,
    );
    await watcher.cancel();
  }
  return rows;
}

/** Whether etcd's own CLI is installed (Debian: etcd-client). */
function etcdctlAvailable(): boolean {
  const probe = spawnSync('etcdctl', ['version'], { env: { ...process.env, ETCDCTL_API: '3' } });
  return !probe.error && probe.status === 0;
}
