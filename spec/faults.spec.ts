import { once } from 'node:events';
import { ConstantBackoff, handleWhen, retry } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EtcdUnavailableError,
  LeaderElector,
  LeaseLostError,
  LockTimeoutError,
  Mutex,
  OwnershipLostError,
  Session,
  isTransient,
  resilientClientOptions,
  type Lock,
} from '../lib/index.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import {
  aborted,
  client,
  defer,
  endpoints,
  fixture,
  keysUnder,
  lineMatching,
  session,
  uniqueName,
  waitForKeys,
} from './support/etcd.js';
import { compactNow, deleteKey, freezeProcess, leaderOf, revokeLease, sharedClock, thawProcess, waitForDeletion } from './support/faults.js';
import { startProxies, type Proxy, type ProxySet } from './support/proxy.js';
import { given } from './support/capabilities.js';

/** Proxies in front of `urls` (the shared cluster by default), closed after the test. */
async function proxies(urls: string[] = endpoints()): Promise<ProxySet> {
  const set = await startProxies(urls);
  defer(() => set.close());
  return set;
}

/** The time `signal` aborts, on the shared clock. */
function abortTime(signal: AbortSignal): Promise<number> {
  return aborted(signal).then(() => sharedClock());
}

/** Resolves with how long `promise` took to settle, and its outcome. */
async function timed<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('faults on the way to etcd', () => {
  it('a holder cut off by a blackhole learns it lost the lock before a successor can acquire it', async () => {
    const ttl = 3;
    const net = await proxies();
    const holderClient = client({ hosts: net.urls });
    const direct = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(holderClient, { ttl }), name).lock();
    const holderLost = abortTime(holder.signal);
    const waiting = new Mutex(await session(direct, { ttl }), name).lock();
    await waitForKeys(direct, `${name}/`, 2);

    const cut = sharedClock();
    net.set('blackhole');
    const successor = await waiting;
    const acquired = sharedClock();
    const lost = await holderLost;

    expect(holder.signal.reason).toBeInstanceOf(OwnershipLostError);
    expect((holder.signal.reason as OwnershipLostError).cause).toBeInstanceOf(LeaseLostError);
    expect(lost).toBeLessThan(acquired);
    expect(successor.fencingToken).toBeGreaterThan(holder.fencingToken);
    console.log(
      `blackhole → holder's signal: ${Math.round(lost - cut)} ms; → successor acquired: ${Math.round(acquired - cut)} ms (TTL ${ttl} s)`,
    );
    await successor.unlock();
  });

  it('a client frozen (SIGSTOP) past its TTL loses the lock; after SIGCONT its guarded write is refused and its signal aborts', async () => {
    const direct = client();
    const name = uniqueName();
    const counter = `${name}-counter`;
    const frozen = fixture('checker-frozen-holder.ts', [name, counter, '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const [, token, key] = (await lineMatching(frozen, /^acquired /)).split(' ') as [string, string, string];
    const waiting = new Mutex(await session(direct, { ttl: 5 }), name).lock();
    await waitForKeys(direct, `${name}/`, 2);

    freezeProcess(frozen);
    try {
      // Its keepalives stop: etcd expires the lease and deletes its key; the waiter gets its turn.
      await waitForDeletion(direct, key);
      const successor = await waiting;
      expect(successor.fencingToken).toBeGreaterThan(BigInt(token));
      await direct.put(counter).value(`written by ${successor.fencingToken}`);
    } finally {
      thawProcess(frozen);
    }
    const verdict = lineMatching(frozen, /^\{/);
    const lost = lineMatching(frozen, /^lost /);
    frozen.stdin!.write('write\n');
    const { succeeded } = JSON.parse(await verdict) as { believedHeld: boolean; succeeded: boolean };
    expect(succeeded).toBe(false);
    expect(await lost).toMatch(/^lost OwnershipLostError: .*(expired|no longer exists)/);
    expect(await direct.get(counter).string()).toMatch(/^written by /);
    expect(await direct.get(counter).string()).not.toBe(`written by ${token}`);
  });

  it('a waiter keeps its place across connection resets and takes its turn after them', async () => {
    const net = await proxies();
    const viaProxy = client({ hosts: net.urls });
    const direct = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(direct), name).lock();
    const waiterSession = await session(viaProxy);
    const waiting = new Mutex(waiterSession, name).lock();
    const [, [waiterKey, waiterToken]] = (await waitForKeys(direct, `${name}/`, 2)) as [unknown, [string, bigint]];
    const order: string[] = [];
    const last = new Mutex(await session(direct), name).lock().then(lock => (order.push('last'), lock));
    await waitForKeys(direct, `${name}/`, 3);

    net.set('reset');
    await holder.unlock();
    expect(waiterSession.ended).toBe(false);
    net.set('pass');
    const lock = await waiting.then(l => (order.push('waiter'), l));
    expect([lock.key, lock.fencingToken]).toEqual([waiterKey, waiterToken]);
    await lock.unlock();
    await (await last).unlock();
    expect(order).toEqual(['waiter', 'last']);
  });

  it('a waiter keeps its place when etcd becomes unreachable right after its predecessor’s release reached it', async () => {
    const [proxy] = (await proxies(endpoints().slice(0, 1))).proxies as [Proxy];
    const callTimeout = 1000;
    const direct = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(direct), name).lock();
    const waiterSession = await session(client({ hosts: proxy.url }), { ttl: 20, callTimeout });
    const waiting = new Mutex(waiterSession, name).lock();
    const [, [waiterKey, waiterToken]] = (await waitForKeys(direct, `${name}/`, 2)) as [unknown, [string, bigint]];

    const cut = proxy.blackholeAfterNextReply();
    await holder.unlock();
    await cut;
    // The waiter's reads fail for a while (each within callTimeout); none of that costs its place.
    let settled = false;
    void waiting.finally(() => (settled = true)).catch(() => undefined);
    await new Promise(resolve => setTimeout(resolve, 2.5 * callTimeout));
    expect(settled).toBe(false);
    proxy.pass();
    const lock = await waiting;
    expect([lock.key, lock.fencingToken]).toEqual([waiterKey, waiterToken]);
    expect(waiterSession.ended).toBe(false);
    await lock.unlock();
  });

  it.skipIf(endpoints().length < 3)('a session whose keepalive stream is cut off moves it to another member before the lease is at risk', async () => {
    const ttl = 4;
    const net = await proxies();
    const s = await session(client({ hosts: net.urls }), { ttl });
    const lock = await new Mutex(s, uniqueName()).lock();
    // Once all is quiet, the next request is a keepalive: cut off the member that carries it.
    const carrier = await Promise.race(net.proxies.map(p => p.nextRequest().then(() => p)));
    carrier.blackhole();
    // Past the TTL: the lease lives only if keepalives reached etcd through another member meanwhile.
    await new Promise(resolve => setTimeout(resolve, 1.5 * ttl * 1000));
    expect(s.ended).toBe(false);
    expect(lock.held).toBe(true);
    expect(await client().get(lock.key).string()).not.toBeNull();
  });

  it.skipIf(endpoints().length < 2)('a watch stuck on a member that accepts connections but answers nothing moves to another member', async () => {
    const net = await proxies(endpoints().slice(0, 2));
    const [a, b] = net.proxies as [Proxy, Proxy];
    const direct = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(direct), name).lock();
    // The waiter starts on member a: b refuses connections meanwhile.
    b.refuse();
    const waiterSession = await session(client(resilientClientOptions({ hosts: net.urls })), { ttl: 20 });
    const waiting = new Mutex(waiterSession, name).lock();
    const [, [waiterKey, waiterToken]] = (await waitForKeys(direct, `${name}/`, 2)) as [unknown, [string, bigint]];

    // a drops its connections, then accepts new ones and answers nothing: a frozen etcd process.
    a.reset();
    a.blackhole();
    b.pass();
    await holder.unlock();
    const lock = await waiting;
    expect([lock.key, lock.fencingToken]).toEqual([waiterKey, waiterToken]);
    expect(waiterSession.ended).toBe(false);
    a.pass();
    await lock.unlock();
  });

  it('watches cancelled while etcd is still answering their creation do not disturb the stream; the other waiters get their turn in order', async () => {
    const c = client();
    const name = uniqueName();
    const s = await session(c);
    const holder = await new Mutex(s, name).lock();
    // Ten waiters that give up the moment their key appears (their watch creations may still be in
    // flight, so answers arrive for watches the stream no longer knows), between ten that stay.
    const order: number[] = [];
    const staying: Promise<void>[] = [];
    const leaving: unknown[] = [];
    let queued = 1;
    for (let i = 0; i < 20; i++) {
      if (i % 2 === 0) {
        staying.push(new Mutex(s, name).withLock(() => void order.push(i)));
        await waitForKeys(c, `${name}/`, ++queued);
      } else {
        const quit = new AbortController();
        const lock = new Mutex(s, name).lock({ signal: quit.signal }).catch((e: unknown) => e);
        await waitForKeys(c, `${name}/`, queued + 1);
        quit.abort(new Error('left'));
        leaving.push(await lock);
      }
    }
    for (const error of leaving) expect(error).toMatchObject({ message: 'left' });
    await holder.unlock();
    await Promise.all(staying);
    expect(order).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  it('an operator’s lease revoke ends the holder’s hold at once; its late unlock spares the successor; new sessions work', async () => {
    const c = client();
    const name = uniqueName();
    const lost = await Session.create(c, { ttl: 30 });
    const holder = await new Mutex(lost, name).lock();
    const waiting = new Mutex(await session(c), name).lock();
    await waitForKeys(c, `${name}/`, 2);

    await revokeLease(endpoints(), lost.leaseId);
    const reason = await aborted(holder.signal);
    expect(reason).toBeInstanceOf(OwnershipLostError);
    expect(await aborted(lost.signal)).toBeInstanceOf(LeaseLostError);
    const successor = await waiting;
    await holder.unlock();
    expect(await keysUnder(c, `${name}/`)).toEqual([[successor.key, successor.fencingToken]]);
    await successor.unlock();

    // The same client serves a new session at once.
    const fresh = await new Mutex(await session(c), name).lock({ timeout: 5000 });
    expect(fresh.fencingToken).toBeGreaterThan(successor.fencingToken);
    await fresh.unlock();
  });

  it('an operator deleting a waiter’s key fails that waiter with OwnershipLostError; deleting the holder’s key aborts its signal', async () => {
    const c = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(c), name).lock();
    const victim = new Mutex(await session(c), name).lock().catch((e: unknown) => e);
    await waitForKeys(c, `${name}/`, 2);
    const next = new Mutex(await session(c), name).lock();
    const [, [victimKey]] = (await waitForKeys(c, `${name}/`, 3)) as [unknown, [string]];

    expect(await deleteKey(endpoints(), victimKey)).toBe(1);
    const error = await victim;
    expect(error).toBeInstanceOf(OwnershipLostError);
    expect((error as OwnershipLostError).reason).toBe('deleted');
    expect(holder.held).toBe(true);

    expect(await deleteKey(endpoints(), holder.key)).toBe(1);
    expect(((await aborted(holder.signal)) as OwnershipLostError).reason).toBe('deleted');
    const successor = await next;
    await holder.unlock();
    expect(successor.held).toBe(true);
    await successor.unlock();
  });

  it('an unreachable cluster makes calls fail within their timeouts, with typed errors', async () => {
    const net = await proxies();
    const c = client({ hosts: net.urls });
    const name = uniqueName();
    const callTimeout = 1000;
    const s = await session(c, { ttl: 5, callTimeout });
    const holder = await new Mutex(s, name).lock();
    const waiter = await session(c, { ttl: 5, callTimeout });
    const waiting = timed(new Mutex(waiter, name).lock());
    await waitForKeys(client(), `${name}/`, 2);
    net.set('blackhole');

    const created = await timed(Session.create(c, { ttl: 5, timeout: 1500, callTimeout }));
    expect(created.error).toBeInstanceOf(EtcdUnavailableError);
    expect(created.ms).toBeLessThan(1500 + 500);

    const unlocked = await timed(holder.unlock());
    expect(unlocked.error).toBeInstanceOf(EtcdUnavailableError);
    expect(unlocked.ms).toBeLessThan(callTimeout + 500);

    // lock() spends at most 1 s more trying to delete its key before it rejects.
    const locked = await timed(new Mutex(s, uniqueName()).lock({ timeout: 1000 }));
    expect(locked.error).toBeInstanceOf(either(LockTimeoutError, EtcdUnavailableError));
    expect(locked.ms).toBeLessThan(1000 + 1000 + 500);

    // A waiter keeps its place as long as its lease may live, and fails when it no longer can.
    const waited = await waiting;
    expect(waited.error).toBeInstanceOf(LeaseLostError);
    expect(waiter.signal.reason).toBe(waited.error);
    console.log(
      `unreachable: Session.create ${Math.round(created.ms)} ms (timeout 1500), unlock ${Math.round(unlocked.ms)} ms ` +
        `(callTimeout ${callTimeout}), lock ${Math.round(locked.ms)} ms (timeout 1000), waiter ${Math.round(waited.ms)} ms (TTL 5 s)`,
    );
  });

  it('a connection that died silently is noticed: the waiter still takes its turn, its lease intact', async () => {
    // One member: everything the waiter does goes over one connection. The silence of the watch
    // stream's progress requests (or of the keepalive stream) drops the connection, and the next
    // stream dials a new one.
    const net = await proxies(endpoints().slice(0, 1));
    const c = client(resilientClientOptions({ hosts: net.urls }));
    const direct = client();
    const name = uniqueName();
    const holder = await new Mutex(await session(direct), name).lock();
    const waiterSession = await session(c, { ttl: 20 });
    const waiting = new Mutex(waiterSession, name).lock();
    const [, [waiterKey, waiterToken]] = (await waitForKeys(direct, `${name}/`, 2)) as [unknown, [string, bigint]];

    // Every open connection goes dead without a word (a NAT that lost its state); new ones work.
    net.set('strand');
    const stranded = performance.now();
    await holder.unlock();
    const lock = await waiting;
    console.log(`stranded connection → waiter acquired: ${Math.round(performance.now() - stranded)} ms (TTL 20 s)`);
    expect([lock.key, lock.fencingToken]).toEqual([waiterKey, waiterToken]);
    expect(waiterSession.ended).toBe(false);
    await lock.unlock();
  });

  it('retryPolicy and callTimeout are the caller’s to choose', async () => {
    const net = await proxies();
    const c = client({ hosts: net.urls });
    let retries = 0;
    const policy = retry(handleWhen(isTransient), { maxAttempts: 2, backoff: new ConstantBackoff(10) });
    policy.onRetry(() => retries++);
    const s = await session(c, { retryPolicy: policy, callTimeout: 3000 });
    const lock = await new Mutex(s, uniqueName()).lock();
    net.set('reset');
    const error = await lock.unlock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    expect(retries).toBe(2);
    net.set('pass');
  });

  it('a call’s deadline also ends the retry policy’s backoff: callTimeout bounds the call whatever the policy waits', async () => {
    const net = await proxies();
    const c = client({ hosts: net.urls });
    // A policy that, after a failed round, waits 10 s before the next: far past the call's 1 s.
    const policy = retry(handleWhen(isTransient), { maxAttempts: 3, backoff: new ConstantBackoff(10_000) });
    const s = await session(c, { retryPolicy: policy, callTimeout: 1000 });
    const lock = await new Mutex(s, uniqueName()).lock();
    net.set('reset');
    const started = performance.now();
    const error = await lock.unlock().catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(error).toBeInstanceOf(EtcdUnavailableError);
    // By its deadline (plus a busy machine's slack), not after the backoff.
    expect(took).toBeLessThan(5000);
    net.set('pass');
  });

  it('a LeaderElector cut off by a partition steps down, and after it heals campaigns again by itself', async () => {
    const net = await proxies();
    const name = uniqueName('elector');
    const events: string[] = [];
    const changed = new EventTarget();
    const note = (event: string): void => {
      events.push(event);
      changed.dispatchEvent(new Event('change'));
    };
    /** Resolves once `event` has happened `times` times. */
    const until = async (event: string, times = 1): Promise<void> => {
      while (events.filter(e => e === event).length < times) await once(changed, 'change');
    };
    const start = (id: string, on: Etcd3): LeaderElector => {
      const e = new LeaderElector({
        client: on,
        name,
        value: id,
        ttl: 3,
        onStartedLeading: async signal => {
          note(`${id} started`);
          await aborted(signal);
        },
        onStoppedLeading: () => note(`${id} stopped`),
        onError: () => undefined,
      });
      defer(() => e.stop());
      return e;
    };
    const a = start('a', client({ hosts: net.urls }));
    await a.start();
    await until('a started');
    const b = start('b', client());
    await b.start();
    await waitForKeys(client(), `${name}/`, 2);

    net.set('blackhole');
    await until('a stopped');
    await until('b started');
    expect(a.isLeader).toBe(false);
    net.set('pass');
    // a comes back as a candidate on a new lease, behind b, and leads once b stops.
    await waitForKeys(client(), `${name}/`, 2);
    await b.stop();
    await until('a started', 2);
    expect(a.isLeader).toBe(true);
    expect(events).toEqual(['a started', 'a stopped', 'b started', 'b stopped', 'a started']);
  });
});

given('ownClusters').describe('faults of etcd members (a cluster of our own)', () => {
  let cluster: Cluster;
  let c: Etcd3;
  beforeAll(async () => {
    cluster = await startCluster();
    c = new Etcd3({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    c?.close();
    await cluster?.stop();
  });

  /** An etcd3 client on our cluster with the recommended options, closed after the test. */
  function clusterClient(hosts = cluster.endpoints): Etcd3 {
    const one = new Etcd3(resilientClientOptions({ hosts }));
    defer(async () => one.close());
    return one;
  }

  /** Waiters queued behind a holder, each on its own session and client. */
  async function queue(name: string, waiters: number): Promise<{ holder: Lock; waiting: Promise<Lock>[]; keys: [string, bigint][] }> {
    const holder = await new Mutex(await session(clusterClient()), name).lock();
    const waiting: Promise<Lock>[] = [];
    for (let i = 0; i < waiters; i++) {
      waiting.push(new Mutex(await session(clusterClient()), name).lock());
      await waitForKeys(c, `${name}/`, i + 2);
    }
    return { holder, waiting, keys: (await keysUnder(c, `${name}/`)).slice(1) };
  }

  it('kill -9 of the raft leader: waiters keep their places and take their turns in order', async () => {
    const name = uniqueName();
    const { holder, waiting, keys } = await queue(name, 2);
    const leader = await leaderOf(cluster);
    await leader.kill();
    try {
      await holder.unlock();
      const first = await waiting[0]!;
      expect([first.key, first.fencingToken]).toEqual(keys[0]);
      await first.unlock();
      const second = await waiting[1]!;
      expect([second.key, second.fencingToken]).toEqual(keys[1]);
      await second.unlock();
    } finally {
      await leader.restart();
    }
  });

  it('a frozen raft leader (SIGSTOP): the holder keeps its lease, the waiter its place', async () => {
    const name = uniqueName();
    const { holder, waiting, keys } = await queue(name, 1);
    const leader = await leaderOf(cluster);
    leader.freeze();
    let next: Lock;
    try {
      // A write needs a leader: while the others elect one, or when both attempts of a call go to
      // the frozen member, unlock() can run out of time. The key is then deleted in the background,
      // and the waiter still gets its turn.
      await holder.unlock().catch((error: unknown) => expect(error).toBeInstanceOf(EtcdUnavailableError));
      next = await waiting[0]!;
      expect([next.key, next.fencingToken]).toEqual(keys[0]);
      expect(next.held).toBe(true);
    } finally {
      leader.thaw();
    }
    await next.unlock();
  });

  it('compaction while a waiter is cut off: when it is back it reads the state again and takes its turn', async () => {
    const net = await proxies(cluster.endpoints);
    const name = uniqueName();
    const holder = await new Mutex(await session(clusterClient()), name).lock();
    const waiterSession = await session(clusterClient(net.urls), { ttl: 20 });
    const waiting = new Mutex(waiterSession, name).lock();
    const [, [waiterKey, waiterToken]] = (await waitForKeys(c, `${name}/`, 2)) as [unknown, [string, bigint]];

    net.set('blackhole');
    await holder.unlock();
    for (let i = 0; i < 5; i++) await c.put(`${name}-noise`).value(String(i));
    await compactNow(c);
    // Its watches resume from revisions that are gone: etcd cancels them, and it must read again.
    net.set('pass');
    const lock = await waiting;
    expect([lock.key, lock.fencingToken]).toEqual([waiterKey, waiterToken]);
    expect(waiterSession.ended).toBe(false);
    await lock.unlock();
  });
});

/** Matches an instance of either class, for toBeInstanceOf. */
function either(a: abstract new (...args: never[]) => Error, b: abstract new (...args: never[]) => Error): typeof Error {
  return class {
    static [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof a || value instanceof b;
    }
  } as unknown as typeof Error;
}
