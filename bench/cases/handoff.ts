import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { EtcdLockFailedError, type Etcd3, type Watcher } from 'etcd3';
import { Mutex } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { clock, sleep } from '../support/clock.js';
import { describeWork, perOp, scrape, work } from '../support/metrics.js';
import { RawQueue } from '../support/raw-queue.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '3 handoff';

/** One side of a handoff: a way to hold the lock, and a way to wait for it. */
interface Contender {
  subject: string;
  note: string;
  /** Takes one sample every `every` iterations (process spawns and retry storms are costly). */
  every: number;
  target?: boolean;
  /** Takes the lock uncontended, for the holder's side. */
  hold(): Promise<{ release(): Promise<void> }>;
  /** Starts waiting; `started` resolves once the waiter is in line, `acquired` with the time it got the lock. */
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

/** Whether etcd's own CLI is installed (Debian: etcd-client). */
function etcdctlAvailable(): boolean {
  const probe = spawnSync('etcdctl', ['version'], { env: { ...process.env, ETCDCTL_API: '3' } });
  return !probe.error && probe.status === 0;
}

/**
 * Case 3: from the holder's release call to the next waiter's acquisition resolving, with the
 * release 5, 20 and 200 ms after the waiter started waiting (its key exists in etcd). The subjects
 * take turns sample by sample, each sample followed by a plain put for the ratio, so load changes on
 * the machine hit every subject alike. A short separate pass counts etcd's work per cycle.
 */
export async function handoff(b: Bench): Promise<Row[]> {
  const holderClient = b.client();
  const waiterClient = b.client();
  const observer = b.client();
  const watchers: Watcher[] = [];
  const contenders: Contender[] = [];

  // This library: two sessions on two clients, one lock name.
  {
    const name = b.name('handoff');
    const holder = new Mutex(await b.session(holderClient), name);
    const waiterSession = await b.session(waiterClient);
    const waiter = new Mutex(waiterSession, name);
    const waiterKey = `${name}/${waiterSession.leaseId}`;
    let keySeen: ((at: number) => void) | undefined;
    // The waiter's key: slot 0, or another slot while an earlier key of its is still being swept.
    const isWaiters = (key: string): boolean => key === waiterKey || key.startsWith(`${waiterKey}_`);
    watchers.push(await observe(observer, `${name}/`, (key, at) => isWaiters(key) && keySeen?.(at)));
    contenders.push({
      subject: 'etcd-concurrency Mutex',
      note: '',
      every: 1,
      target: true,
      async hold() {
        const lock = await holder.lock();
        return { release: () => lock.unlock() };
      },
      wait() {
        const started = new Promise<number>(resolve => (keySeen = resolve));
        const acquired = waiter.lock().then(lock => ({ at: clock(), release: () => lock.unlock() }));
        return { started, acquired };
      },
    });
  }

  // The floor: the same protocol with bare etcd3 calls (no own-key watch, no bookkeeping), then the
  // same without the read that follows the predecessor's deletion.
  for (const reread of [true, false]) {
    const name = b.name('floor-handoff');
    const holderQueue = new RawQueue(holderClient, `${name}/`);
    const waiterQueue = new RawQueue(waiterClient, `${name}/`);
    const holderSession = await b.session(holderClient);
    const waiterSession = await b.session(waiterClient);
    let keySeen: ((at: number) => void) | undefined;
    watchers.push(await observe(observer, `${name}/`, (key, at) => key.endsWith(waiterSession.leaseId) && keySeen?.(at)));
    contenders.push({
      subject: reread ? 'floor: same protocol, bare etcd3' : 'floor without the re-read',
      note: reread ? 'delete txn → watch event → range' : 'delete txn → watch event',
      every: 2,
      async hold() {
        const own = await holderQueue.create(holderSession.leaseId, holderSession.lease);
        return { release: () => holderQueue.remove(own.key, own.revision) };
      },
      wait() {
        const started = new Promise<number>(resolve => (keySeen = resolve));
        const acquired = (async () => {
          const own = await waiterQueue.create(waiterSession.leaseId, waiterSession.lease);
          const at = await waiterQueue.waitTurn(own.key, own.revision, own.predecessor, reread);
          return { at, release: () => waiterQueue.remove(own.key, own.revision) };
        })();
        return { started, acquired };
      },
    });
  }

  // etcd3's Lock: no queue, so the waiter retries at once after each EtcdLockFailedError (each
  // attempt grants a lease, tries a transaction and revokes the lease).
  {
    const name = b.name('etcd3-handoff');
    contenders.push({
      subject: 'etcd3 Lock (retry at once)',
      note: 'waiter in line = its first attempt failed',
      every: 2,
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
    });
  }

  // etcd's Go concurrency.Mutex, as `etcdctl lock <name>` waiting behind our Mutex.
  if (etcdctlAvailable()) {
    const name = b.name('etcdctl-handoff');
    const holder = new Mutex(await b.session(holderClient), name);
    let keySeen: ((at: number) => void) | undefined;
    watchers.push(await observe(observer, `${name}/`, (_key, at) => keySeen?.(at)));
    contenders.push({
      subject: 'etcdctl lock (Go concurrency.Mutex)',
      note: 'waiter: etcdctl lock, holder: our Mutex',
      every: b.pick(8, 5),
      async hold() {
        const lock = await holder.lock();
        return { release: () => lock.unlock() };
      },
      wait() {
        const started = new Promise<number>(resolve => (keySeen = resolve));
        const child = spawn('etcdctl', [`--endpoints=${b.endpoints.join(',')}`, 'lock', name], {
          env: { ...process.env, ETCDCTL_API: '3' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const acquired = new Promise<{ at: number; release(): Promise<void> }>((resolve, reject) => {
          createInterface({ input: child.stdout }).once('line', () =>
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
    });
  }

  const sample = async (c: Contender, delay: number): Promise<{ handoff: number; late: number }> => {
    const held = await c.hold();
    const { started, acquired } = c.wait();
    const startedAt = await started;
    await until(startedAt + delay);
    const releasedAt = clock();
    await held.release();
    const got = await acquired;
    await got.release();
    return { handoff: got.at - releasedAt, late: releasedAt - startedAt - delay };
  };

  const rows: Row[] = [];
  for (const delay of [5, 20, 200]) {
    const iterations = delay >= 200 ? b.pick(3, 30) : b.pick(8, 100);
    const taken = contenders.map(() => ({ handoffs: [] as number[], late: [] as number[] }));
    // Two references per iteration: a put right after a sample (warm), and a put after the same
    // `delay` of quiet the release had (etcd and the client idle that long first). A put after
    // 200 ms of quiet takes far longer than a warm one, and so does any release; the idle put is the
    // like-for-like reference.
    const warm: number[] = [];
    const idle: number[] = [];
    for (const c of contenders) await sample(c, delay); // warm up
    for (let i = 0; i < iterations; i++) {
      for (let k = 0; k < contenders.length; k++) {
        const j = (i + k) % contenders.length;
        const c = contenders[j]!;
        if (i % c.every !== 0) continue;
        const s = await sample(c, delay);
        taken[j]!.handoffs.push(s.handoff);
        taken[j]!.late.push(s.late);
      }
      warm.push(await putOnce(holderClient, 'bench/put'));
      await sleep(delay);
      idle.push(await putOnce(holderClient, 'bench/put'));
    }
    const p = summarize(idle);
    const w = summarize(warm);
    for (const [j, c] of contenders.entries()) {
      const before = await scrape(b.metricsUrls);
      const k = b.pick(2, 5);
      for (let i = 0; i < k; i++) await sample(c, delay);
      const server = perOp(work(before, await scrape(b.metricsUrls)), k);
      const s = summarize(taken[j]!.handoffs);
      const r = s.median / p.median;
      rows.push({
        case: `${CASE}, release ${delay} ms after`,
        subject: c.subject,
        unit: 'ms',
        summary: s,
        ratio: { median: r, p99: s.p99 / p.p99, of: `put after ${delay} ms idle` },
        ...(c.target ? { target: { text: '≤ 2.5× put', met: r <= 2.5 } } : {}),
        note: `${(s.median / w.median).toFixed(2)}× a warm put; ${c.note}${c.note ? '; ' : ''}whole cycle: ${describeWork(server)}`,
        server,
        detail: { idlePut: p, warmPut: w, ratioToWarmPut: s.median / w.median, delay, releaseLateMs: summarize(taken[j]!.late) },
      });
    }
  }
  await Promise.all(watchers.map(w => w.cancel()));
  return rows;
}
