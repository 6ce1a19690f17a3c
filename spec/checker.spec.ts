import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resilientClientOptions } from '../lib/index.js';
import { startCluster, waitHealthy, type Cluster } from '../harness/cluster.js';
import { fixture, uniqueName } from './support/etcd.js';
import {
  FaultLog,
  compactNow,
  deleteKey,
  freezeProcess,
  leaderOf,
  revokeLease,
  thawProcess,
  waitForDeletion,
} from './support/faults.js';
import { startProxies, type ProxySet } from './support/proxy.js';
import { given } from './support/capabilities.js';
import { wallClock } from './support/wall-clock.js';

// A Jepsen-style check of the lock under faults. K client processes (spec/fixtures/checker-client.ts)
// take one lock in turns, each hold a guarded read-modify-write of a counter through
// lock.ifOwner(), while a schedule injects every fault of spec/support/ (partitions, pauses,
// member loss, compaction, an operator's revoke and delete). Each client reaches etcd through its
// own proxies. Afterwards the history the clients reported, and etcd's own records of the writes,
// are checked. CHECKER_SEED=<n> replays a schedule.
//
// It runs once per kind of lock, with the same fault schedule and checks (runChecker(kind)):
// - mutex: one Mutex, as above.
// - semaphore: a Semaphore of SEMAPHORE_PERMITS permits. At no instant more than N holds whose
//   signal has not aborted (with the same excuses as the mutex). With N holders at once a shared
//   counter would see N writers, so each client increments a counter of its own: the lost-update
//   and stale-write checks then hold per client, and every write still goes through ifOwner().
// - rw: an RWMutex, the write lock most cycles and the read lock in the rest. No write hold
//   overlaps any other hold (reads may overlap reads); the counter is written only under write
//   holds, and a read hold reads it twice: no writer may change it in between.

type Kind = 'mutex' | 'semaphore' | 'rw';

const K = 4;
const TTL = 3;
const LOCK_TIMEOUT_MS = 4000;
const CALL_TIMEOUT_MS = 2000;
/** How many times the schedule goes through every kind of fault: the mutex run, and each other kind's. */
const ROUNDS: Record<Kind, number> = { mutex: 2, semaphore: 1, rw: 1 };
/** N of the semaphore run. */
const SEMAPHORE_PERMITS = 2;
/**
 * A call may end this much after its budget (timers and pipes run late on a busy machine). One run
 * saw an unlock() end 349 ms past its 2 s budget: a call ended only when its retry policy's backoff
 * sleep did, which did not heed the deadline (fixed in `etcd/call.ts`; shown in faults.spec.ts).
 */
const CALL_SLACK_MS = 300;
/** How long after a paused client resumes its overdue timers may take to run (its signal to abort), ms. */
const RESUME_GRACE_MS = 500;

/** A JSON line a client printed. */
interface Event {
  e: string;
  id: string;
  t?: number;
  [field: string]: unknown;
}

interface Hold {
  id: string;
  cycle: number;
  token: bigint;
  lease: string;
  key: string;
  /** 'write' but for a read hold of the RWMutex. */
  mode: 'read' | 'write';
  acquire: number;
  /** When its signal aborted: by our unlock, or a loss. Infinity if it never did. */
  end: number;
  endReason: string;
  write: { outcome: string; read?: number; reread?: number; start?: number; end?: number };
}

/** Every event of every client, in arrival order, with a way to wait for the next one that matches. */
class Bus {
  readonly events: Event[] = [];
  private wakers: (() => void)[] = [];

  push(event: Event): void {
    this.events.push(event);
    for (const wake of this.wakers.splice(0)) wake();
  }

  /** The first event from index `from` on that matches, once it has arrived; undefined after `timeoutMs`. */
  async next(match: (e: Event) => boolean, timeoutMs: number, from = this.events.length): Promise<Event | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.events.length; i++) if (match(this.events[i]!)) return this.events[i];
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** A small deterministic PRNG (mulberry32), so a seed replays a schedule. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


given('ownClusters').describe('checker: K clients × lock cycles under faults', () => {
  let cluster: Cluster;
  let observer: Etcd3;
  beforeAll(async () => {
    cluster = await startCluster();
    observer = new Etcd3(resilientClientOptions({ hosts: cluster.endpoints }));
  });
  afterAll(async () => {
    observer?.close();
    await cluster?.stop();
  });

  it('mutex: no lost update, fencing tokens in order, no overlapping holds, nothing left, no call past its timeout', () => runChecker('mutex'), 240_000);
  it(`semaphore (N = ${SEMAPHORE_PERMITS}): no lost update per client, never more than N holds, nothing left, no call past its timeout`, () => runChecker('semaphore'), 180_000);
  it('rw: no lost update, no writer overlapping any hold, no write under a read hold, nothing left, no call past its timeout', () => runChecker('rw'), 180_000);

  /** One run of the checker on a lock of `kind`: its own clients and name, the shared schedule and checks. */
  async function runChecker(kind: Kind): Promise<void> {
    const rounds = ROUNDS[kind];
    const permits = kind === 'semaphore' ? SEMAPHORE_PERMITS : 1;
    const seed = Number(process.env.CHECKER_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rand = random(seed);
    const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;
    const name = uniqueName(`checker-${kind}`);
    const data = `${name}-data`;
    const prefix = `${name}/`;
    const bus = new Bus();
    const log = new FaultLog();
    const started = wallClock();

    // The clients, each behind proxies of its own.
    const clients: { id: string; child: ChildProcess; net: ProxySet; exited: Promise<number | null> }[] = [];
    for (let i = 0; i < K; i++) {
      const id = `c${i}`;
      const net = await startProxies(cluster.endpoints);
      const child = fixture(
        'checker-client.ts',
        [id, name, data, String(TTL), String(LOCK_TIMEOUT_MS), String(CALL_TIMEOUT_MS), '100000', kind, String(permits)],
        { stdio: ['pipe', 'pipe', 'pipe'], env: { ETCD_ENDPOINTS: net.urls.join(',') } },
      );
      let buffer = '';
      child.stdout!.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) bus.push(JSON.parse(line) as Event);
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, 'exit').then(([code]) => {
        if (code !== 0) console.error(`client ${id} exited ${code}: ${stderr.slice(-2000)}`);
        return code as number | null;
      });
      clients.push({ id, child, net, exited });
    }
    const byId = (id: string) => clients.find(c => c.id === id)!;
    /** The client whose current session holds `lease` (hex). */
    const ownerOf = (lease: string) => bus.events.find(e => e.e === 'session' && e.lease === lease)?.id;
    /** The lease (hex) of a queue key: `<prefix><lease>[_<slot>][.read]`. */
    const leaseOf = (key: string): string => key.slice(prefix.length).split(/[_.]/)[0]!;
    /** The waiters among the queue's keys (in create order): past the holders the kind lets in. */
    const waiting = (keys: string[]): string[] => {
      if (kind === 'semaphore') return keys.slice(permits);
      if (kind === 'rw') {
        // Readers ahead of the oldest writer all hold; a writer at the head holds alone.
        const writer = keys.findIndex(k => !k.endsWith('.read'));
        return keys.slice(writer === 0 ? 1 : writer === -1 ? keys.length : writer);
      }
      return keys.slice(1);
    };
    const acquired = (timeoutMs = 5000, from?: number) => bus.next(e => e.e === 'acquired', timeoutMs, from);
    /** The next hold that did its work: a committed write, or under an RWMutex a read hold's two reads. */
    const progress = (timeoutMs: number) =>
      bus.next(e => e.e === 'hold' && ['committed', ...(kind === 'rw' ? ['read'] : [])].includes((e.write as { outcome: string }).outcome), timeoutMs);
    const bounded = <T>(promise: Promise<T>, ms: number): Promise<T | undefined> =>
      Promise.race([promise, new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), ms))]);

    /** An operator's revoke or delete of a holder's: it took effect between `from` (etcdctl started) and `at` (it returned). */
    const revocations: { from: number; at: number; lease?: string; key?: string }[] = [];
    /** Waiter keys an operator deleted: when the queue was read (the key was in it), and when `etcdctl del` returned. */
    const victims: { seen: number; at: number; key: string }[] = [];
    const blackholes: { holder: string; cycle: number; cut: number }[] = [];
    const freezes: { id: string; from: number; to: number }[] = [];

    /** Asks a client for a long hold and resolves when it has it (so a fault lands mid-hold). */
    const longHolder = async (): Promise<Event | undefined> => {
      const c = pick(clients);
      const from = bus.events.length;
      c.child.stdin!.write('long\n');
      return bus.next(e => e.e === 'acquired' && e.id === c.id && e.long === true, 15_000, from);
    };

    const faults: Record<string, () => Promise<void>> = {
      'blackhole holder': async () => {
        const acq = await longHolder();
        if (!acq) return;
        const c = byId(acq.id);
        c.net.set('blackhole');
        const cut = wallClock();
        log.note('blackhole', c.id, `holding token ${acq.token as string}`);
        blackholes.push({ holder: c.id, cycle: acq.cycle as number, cut });
        // Its lease expires in etcd, and its key with it; then the path heals.
        await bounded(waitForDeletion(observer, acq.key as string), 3 * TTL * 1000);
        await acquired(3000);
        c.net.set('pass');
        log.note('heal', c.id);
      },
      'freeze holder': async () => {
        const acq = await longHolder();
        if (!acq) return;
        const c = byId(acq.id);
        freezeProcess(c.child);
        const from = wallClock();
        log.note('SIGSTOP', c.id, `holding token ${acq.token as string}`);
        await bounded(waitForDeletion(observer, acq.key as string), 3 * TTL * 1000);
        await bus.next(e => e.e === 'acquired' && e.id !== c.id, 3000);
        thawProcess(c.child);
        freezes.push({ id: c.id, from, to: wallClock() });
        log.note('SIGCONT', c.id);
      },
      'kill -9 leader': async () => {
        const leader = await leaderOf(cluster);
        await leader.kill();
        log.note('kill -9', leader.name, 'raft leader');
        await progress(8000);
        await leader.restart();
        log.note('restart', leader.name);
      },
      'freeze leader': async () => {
        const leader = await leaderOf(cluster);
        leader.freeze();
        log.note('SIGSTOP', leader.name, 'raft leader');
        await progress(8000);
        leader.thaw();
        log.note('SIGCONT', leader.name);
      },
      'freeze watch member': async () => {
        // The member serving a waiting client's watch stream: the waiter must hear of its turn
        // from another member, within about the stream's silence limit.
        for (let attempt = 0; attempt < 20; attempt++) {
          const keys = waiting(await observer.getAll().prefix(prefix).sort('Create', 'Ascend').keys());
          const id = keys.length > 0 ? ownerOf(leaseOf(pick(keys))) : undefined;
          if (id) {
            const c = byId(id);
            const from = bus.events.length;
            c.child.stdin!.write('where\n');
            const where = await bus.next(e => e.e === 'stream' && e.id === c.id, 3000, from);
            const proxy = c.net.proxies.find(p => where?.endpoint && p.url.endsWith(where.endpoint as string));
            const member = proxy && cluster.members.find(m => m.clientUrl === proxy.target);
            if (member) {
              member.freeze();
              log.note('SIGSTOP', member.name, `serving ${c.id}'s watch stream`);
              await progress(8000);
              member.thaw();
              log.note('SIGCONT', member.name);
              return;
            }
          }
          await acquired(1000);
        }
      },
      'reset client': async () => {
        const c = pick(clients);
        c.net.set('reset');
        c.net.set('pass');
        log.note('reset connections', c.id);
      },
      'refuse client': async () => {
        const c = pick(clients);
        c.net.set('reset');
        c.net.set('refuse');
        log.note('refuse connections', c.id);
        await bus.next(e => e.e === 'acquired' && e.id !== c.id, 3000);
        c.net.set('pass');
        log.note('heal', c.id);
      },
      'strand client': async () => {
        const c = pick(clients);
        c.net.set('strand');
        log.note('strand connections', c.id, 'open connections silently dead; new ones pass');
      },
      compaction: async () => {
        const revision = await compactNow(observer);
        log.note('compact', 'cluster', `at revision ${revision}`);
      },
      'revoke holder lease': async () => {
        const acq = await acquired();
        if (!acq) return;
        const from = wallClock();
        await revokeLease(cluster.endpoints, acq.lease as string);
        revocations.push({ from, at: wallClock(), lease: acq.lease as string });
        log.note('etcdctl lease revoke', acq.id, `lease ${acq.lease as string}`);
      },
      'delete holder key': async () => {
        const acq = await acquired();
        if (!acq) return;
        const from = wallClock();
        await deleteKey(cluster.endpoints, acq.key as string);
        revocations.push({ from, at: wallClock(), key: acq.key as string });
        log.note('etcdctl del', acq.id, `holder key ${acq.key as string}`);
      },
      'delete waiter key': async () => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const keys = waiting(await observer.getAll().prefix(prefix).sort('Create', 'Ascend').keys());
          const seen = wallClock();
          if (keys.length > 0) {
            const key = pick(keys);
            if ((await deleteKey(cluster.endpoints, key)) === 1) {
              victims.push({ seen, at: wallClock(), key });
              log.note('etcdctl del', ownerOf(leaseOf(key)) ?? '?', `waiter key ${key}`);
              return;
            }
          }
          await acquired(1000);
        }
      },
      'partition waiter': async () => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const keys = waiting(await observer.getAll().prefix(prefix).sort('Create', 'Ascend').keys());
          const id = keys.length > 0 ? ownerOf(leaseOf(pick(keys))) : undefined;
          if (id) {
            const c = byId(id);
            c.net.set('blackhole');
            log.note('blackhole', c.id, 'waiting, shorter than its TTL');
            await bus.next(e => e.e === 'acquired' && e.id !== c.id, (TTL * 1000) / 2);
            c.net.set('pass');
            log.note('heal', c.id);
            return;
          }
          await acquired(1000);
        }
      },
    };

    // The schedule: every fault, `rounds` times, in seeded orders, each after a few more writes (or,
    // under an RWMutex, read holds).
    const kinds = Object.keys(faults);
    const order = Array.from({ length: rounds }, () => [...kinds].sort(() => rand() - 0.5)).flat();
    console.log(`checker ${kind} seed ${seed}: CHECKER_SEED=${seed} replays this schedule`);
    await progress(15_000);
    const injected = new Set<string>();
    for (const fault of order) {
      const before = log.records.length;
      await faults[fault]!();
      if (log.records.length > before) injected.add(fault);
      for (let i = 0; i < 3; i++) await progress(5000);
    }
    // Let everyone get a few more turns on a healed system, then stop.
    await waitHealthy(cluster.members.map(m => m.metricsUrl));
    for (let i = 0; i < 2 * K; i++) await progress(5000);
    for (const c of clients) c.child.stdin!.write('stop\n');
    const codes = await Promise.all(clients.map(c => bounded(c.exited, 60_000)));
    if (process.env.CHECKER_DUMP) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${process.env.CHECKER_DUMP}.${kind}`, [...bus.events.map(e => JSON.stringify(e)), ...log.lines()].join('\n'));
    }

    // ---- Check the history. ----
    const violations: string[] = [];
    const violation = (text: string): void => void violations.push(text);
    codes.forEach((code, i) => code !== 0 && violation(`client c${i} did not exit cleanly (exit ${String(code)})`));
    for (const crash of bus.events.filter(e => e.e === 'crash')) violation(`client ${crash.id} crashed: ${String(crash.message).split('\n')[0]}`);

    // Nothing left: keys of clients that could not revoke their lease go when it expires.
    const left = await bounded(
      (async () => {
        for (;;) {
          const keys = await observer.getAll().prefix(prefix).keys();
          if (keys.length === 0) return keys;
          await Promise.race(keys.map(k => waitForDeletion(observer, k)));
        }
      })(),
      (TTL + 3) * 1000,
    );
    if (left === undefined) violation(`keys left under ${prefix}: ${(await observer.getAll().prefix(prefix).keys()).join(', ')}`);

    const holds: Hold[] = bus.events
      .filter(e => e.e === 'hold')
      .map(e => ({
        id: e.id,
        cycle: e.cycle as number,
        token: BigInt(e.token as string),
        lease: e.lease as string,
        key: e.key as string,
        mode: e.mode === 'read' ? 'read' : 'write',
        acquire: e.acquire as number,
        end: (e.end as number | undefined) ?? Infinity,
        endReason: (e.endReason as string | undefined) ?? 'never',
        write: e.write as Hold['write'],
      }));
    const stalls = bus.events
      .filter(e => e.e === 'stall')
      .map(e => ({ id: e.id, from: e.from as number, to: e.to as number }))
      .concat(freezes);
    // A process resumed by SIGCONT (or after a stall) first runs its overdue timers, the lease
    // deadline's among them: its signal aborts shortly after, not at the instant it resumes.
    const paused = (id: string, t: number): boolean => stalls.some(s => s.id === id && s.from <= t && t <= s.to + RESUME_GRACE_MS);
    const revokedBefore = (h: Hold, t: number): boolean =>
      // From when etcdctl started: it may take effect, and the next holder hear of it, well before
      // the process returns on a busy machine.
      revocations.some(r => r.from <= t && (r.lease === h.lease || r.key === h.key)) ||
      victims.some(v => v.seen <= t && v.key === h.key);

    // No lost update: etcd's own record of the writes. Each committed write put a marker in its
    // transaction; read in commit order, each read the value the previous one wrote. Under a
    // semaphore each client has a counter of its own, and this holds per client.
    const allMarkers = (await observer.getAll().prefix(`${data}/ops/`).exec()).kvs
      .map(kv => ({ op: kv.key.toString().slice(`${data}/ops/`.length), rev: BigInt(kv.mod_revision), ...(JSON.parse(kv.value.toString()) as { token: string; read: number }) }))
      .sort((a, b) => (a.rev < b.rev ? -1 : 1));
    const counters = kind === 'semaphore' ? clients.map(c => ({ key: `${data}/counter/${c.id}`, ops: `${c.id}-` })) : [{ key: `${data}/counter`, ops: '' }];
    let counter = 0;
    for (const c of counters) {
      const value = Number((await observer.get(c.key).string()) ?? '0');
      counter += value;
      const markers = allMarkers.filter(m => m.op.startsWith(c.ops));
      const of = kind === 'semaphore' ? ` ${c.key}` : '';
      if (value !== markers.length) violation(`lost update: the counter${of} is ${value}, but ${markers.length} guarded writes committed`);
      markers.forEach((m, i) => {
        const previous = markers[i - 1];
        const expected = previous ? previous.read + 1 : 0;
        if (m.read !== expected) violation(`lost update: write ${m.op} (commit #${i + 1}${of}) read ${m.read}, but the write before it wrote ${expected}`);
        if (previous && BigInt(m.token) < BigInt(previous.token)) {
          violation(`stale write: ${m.op} with token ${m.token} committed after a write with token ${previous.token}`);
        }
      });
    }
    const markers = allMarkers;
    const committedOps = new Set(markers.map(m => m.op));
    for (const h of holds) {
      const op = `${h.id}-${h.cycle}`;
      if (h.write.outcome === 'committed' && !committedOps.has(op)) violation(`write ${op} reported committed, but etcd has no record of it`);
      if (h.write.outcome === 'refused' && committedOps.has(op)) violation(`write ${op} reported refused, but etcd committed it`);
    }

    // Fencing tokens strictly increase in acquisition order; no two holds overlap, except where
    // the earlier holder was paused (no lease can tell a stopped process) or an operator took its
    // key (it learns at once, but not before etcd tells the next holder). Under an RWMutex this
    // holds for every pair with a write hold in it (reads may overlap reads, in any order); a
    // semaphore's holds are checked by count below.
    const exemptions: Record<string, number> = {};
    const exempt = (what: string): void => void (exemptions[what] = (exemptions[what] ?? 0) + 1);
    const excuseOf = (a: Hold, t: number): string | undefined =>
      paused(a.id, t) ? 'a paused earlier holder' : revokedBefore(a, t) ? 'an operator revoked the earlier hold' : undefined;
    const exclusive = (a: Hold, b: Hold): boolean => kind === 'mutex' || (kind === 'rw' && (a.mode === 'write' || b.mode === 'write'));
    const byToken = [...holds].sort((a, b) => (a.token < b.token ? -1 : 1));
    for (let i = 0; i < byToken.length; i++) {
      const a = byToken[i]!;
      if (byToken[i + 1]?.token === a.token) violation(`two holds with fencing token ${a.token}: ${a.id}#${a.cycle} and ${byToken[i + 1]!.id}#${byToken[i + 1]!.cycle}`);
      for (let j = i + 1; j < byToken.length; j++) {
        const b = byToken[j]!;
        if (!exclusive(a, b)) continue;
        const excuse = excuseOf(a, b.acquire);
        const modes = kind === 'rw' ? ` [${a.mode} then ${b.mode}]` : '';
        if (b.acquire <= a.acquire) {
          if (excuse) exempt(`acquired out of token order: ${excuse}`);
          else violation(`token order${modes}: ${b.id}#${b.cycle} (token ${b.token}) acquired ${Math.round(a.acquire - b.acquire)} ms before ${a.id}#${a.cycle} (token ${a.token})`);
        }
        if (b.acquire < a.end) {
          if (excuse) exempt(`overlap: ${excuse}`);
          else violation(`overlap${modes}: ${b.id}#${b.cycle} (token ${b.token}) acquired ${Math.round(a.end - b.acquire)} ms before the signal of ${a.id}#${a.cycle} (token ${a.token}) aborted (${a.endReason})`);
        }
      }
    }

    // Semaphore: at no instant more than N holds whose signal has not aborted, not counting a
    // holder paused then or whose key an operator had taken. The count only grows at an
    // acquisition, so it is checked at each.
    let mostAtOnce = 0;
    if (kind === 'semaphore') {
      for (const b of holds) {
        const others = holds.filter(h => h !== b && h.acquire <= b.acquire && b.acquire < h.end);
        mostAtOnce = Math.max(mostAtOnce, others.length + 1);
        if (others.length + 1 <= permits) continue;
        const excused = others.map(h => excuseOf(h, b.acquire));
        if (others.length + 1 - excused.filter(Boolean).length <= permits) {
          for (const excuse of excused) if (excuse) exempt(`more than ${permits} at once: ${excuse}`);
          continue;
        }
        const list = others.map(h => `${h.id}#${h.cycle} (token ${h.token}, since ${Math.round(b.acquire - h.acquire)} ms)`).join(', ');
        violation(`over ${permits} permits: ${b.id}#${b.cycle} (token ${b.token}) acquired while the signals of ${list} had not aborted`);
      }
    }

    // RWMutex: a read hold read the counter twice; no writer can have changed it in between while
    // the reader's signal had not aborted (same excuses).
    if (kind === 'rw') {
      for (const h of holds.filter(h => h.mode === 'read' && h.write.outcome === 'read')) {
        if (h.write.read === h.write.reread) continue;
        const until = h.write.end!;
        const excuse =
          h.end <= until
            ? 'its signal aborted first'
            : stalls.some(s => s.id === h.id && s.to >= h.acquire && s.from <= until)
              ? 'a paused reader'
              : revokedBefore(h, until)
                ? 'an operator revoked the read hold'
                : undefined;
        if (excuse) exempt(`counter changed under a read hold: ${excuse}`);
        else violation(`write under a read hold: ${h.id}#${h.cycle} (token ${h.token}) read the counter as ${h.write.read}, then ${h.write.reread}, its signal not aborted`);
      }
    }

    // A waiter whose key an operator deleted fails at once with OwnershipLostError.
    for (const v of victims) {
      const id = ownerOf(leaseOf(v.key));
      // The lock() that was waiting with this key when it was deleted. It began before the queue
      // was read: a lock() begun later (the same session's next, after the deletion ended its
      // hold, while etcdctl was still exiting) has a key of its own.
      const waited = bus.events.find(
        e => e.e === 'call' && e.id === id && e.op === 'lock' && (e.start as number) <= v.seen && (e.end as number) >= v.at - 50,
      );
      // A lock() granted in the instant before the deletion (its read still saw the key) ends ok;
      // then the hold it returned must have lost its key ('deleted') at once.
      const grantedThenLost =
        waited?.outcome === 'ok' &&
        holds.some(h => h.id === id && Math.abs(h.acquire - (waited.end as number)) < 50 && h.endReason.startsWith('deleted'));
      if (waited && waited.outcome !== 'OwnershipLostError' && !grantedThenLost) {
        violation(`${String(id)}'s lock(), whose waiting key ${v.key} was deleted, ended ${waited.outcome as string}, not OwnershipLostError`);
      }
    }

    // No call outlived its timeout, unless its process was paused meanwhile.
    const calls = bus.events.filter(e => e.e === 'call');
    let pausedCalls = 0;
    for (const call of calls) {
      const took = (call.end as number) - (call.start as number);
      if (took <= (call.budget as number) + CALL_SLACK_MS) continue;
      if (stalls.some(s => s.id === call.id && s.to >= (call.start as number) && s.from <= (call.end as number))) {
        pausedCalls++;
        continue;
      }
      violation(`${call.id} ${call.op as string} took ${Math.round(took)} ms, its budget ${call.budget as number} ms (${call.outcome as string})`);
    }

    // ---- Report. ----
    const count = (pick: (e: Event) => boolean): number => bus.events.filter(pick).length;
    const outcomes: Record<string, number> = {};
    for (const h of holds) outcomes[h.write.outcome] = (outcomes[h.write.outcome] ?? 0) + 1;
    const lockFailures: Record<string, number> = {};
    for (const e of bus.events.filter(e => e.e === 'lockFailed')) lockFailures[e.error as string] = (lockFailures[e.error as string] ?? 0) + 1;
    const cycles = bus.events.filter(e => e.e === 'done').reduce((n, e) => n + (e.cycles as number), 0);
    const detection = blackholes.map(b => {
      const lost = bus.events.find(e => e.e === 'lost' && e.id === b.holder && e.cycle === b.cycle);
      const next = bus.events.find(e => e.e === 'acquired' && e.id !== b.holder && (e.t as number) > b.cut);
      return `${lost ? Math.round((lost.t as number) - b.cut) : 'released first'} ms to the holder's signal, ${next ? Math.round((next.t as number) - b.cut) : '-'} ms to the next acquisition`;
    });
    console.log(
      [
        `checker ${kind}${kind === 'semaphore' ? ` N=${permits}` : ''} (seed ${seed}): ${K} clients, ${cycles} lock cycles in ${((wallClock() - started) / 1000).toFixed(1)} s, TTL ${TTL} s`,
        `  holds: ${holds.length}${kind === 'rw' ? ` (${holds.filter(h => h.mode === 'read').length} read)` : ''}; guarded writes: ${JSON.stringify(outcomes)}; counter${kind === 'semaphore' ? 's (sum)' : ''} ${counter} = ${markers.length} committed writes`,
        ...(kind === 'semaphore' ? [`  most holds at once whose signal had not aborted (excused ones included): ${mostAtOnce}`] : []),
        `  lock() failures: ${JSON.stringify(lockFailures)}; sessions: ${count(e => e.e === 'session')} (${count(e => e.e === 'session') - K} after a lost lease)`,
        `  clock: each client's performance.timeOrigin off the wall clock by ${bus.events.filter(e => e.e === 'done').map(e => `${e.id} ${(e.originSkew as number).toFixed(1)}`).join(', ')} ms (times here are wall times)`,
        `  calls: ${calls.length}, ${pausedCalls} of them spanning a pause of their process; stalls seen: ${stalls.length}`,
        `  blackholed holder: ${detection.join('; ') || 'none'}`,
        `  overlaps${kind === 'mutex' ? '' : ' (of exclusive holds)'} and order inversions explained: ${JSON.stringify(exemptions)}`,
        `  faults: ${injected.size} of ${kinds.length} kinds injected (${kinds.filter(f => !injected.has(f)).join(', ') || 'none'} left out), ${rounds} round${rounds === 1 ? '' : 's'}; ${log.records.length} steps: ${JSON.stringify(log.counts())}`,
        ...log.lines().map(l => `    ${l}`),
        `  violations: ${violations.length}`,
        ...violations.map(v => `    ${v}`),
      ].join('\n'),
    );
    for (const c of clients) await c.net.close();
    expect(violations).toEqual([]);
    expect(injected.size).toBe(kinds.length);
  }
});
