import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster, type Member } from '../../harness/cluster.js';
import { Election, Mutex, Session, type LeaderInfo, type Lock } from '../../lib/index.js';
import { startProxies } from '../support/proxy.js';
import { keysUnder, uniqueName, waitForKeys } from '../support/etcd.js';
import { watchStreamEndpoint } from '../../lib/etcd/watch.js';
import { given } from '../support/capabilities.js';
import { leaderOf } from '../support/faults.js';

/**
 * A frozen member (SIGSTOP: it keeps its sockets and answers nothing) while a quorum is up: every
 * call resolves, FIFO holds, and the handoff chain completes within a bound set by etcd's election
 * timeout (1 s here, etcd's default): at most two election timeouts until a new leader serves
 * writes, plus one hedge delay (at most 1 s) for a call that first went to the frozen member, plus
 * the watch stream's silence limit (1.5 s at most) for a waiter whose stream sat on it, plus round
 * trips. Measured here: see the lines this spec prints.
 */
const ELECTION_TIMEOUT_MS = 1000;
const CHAIN_BOUND_MS = 2 * ELECTION_TIMEOUT_MS + 1000 + 1500 + 500;

let cluster: Cluster;
const clients: Etcd3[] = [];

/** A plain etcd3 client: the library must not need any particular client options to ride this out. */
function plainClient(): Etcd3 {
  const c = new Etcd3({ hosts: cluster.endpoints });
  clients.push(c);
  return c;
}

/** A holder on one client. */
async function holderOf(name: string): Promise<Lock> {
  return new Mutex(await Session.create(plainClient(), { ttl: 10 }), name).lock();
}

/** Two waiters on another client (so one watch stream), queued in order; their keys in queue order. */
async function waitersOf(name: string): Promise<{ waiters: Promise<Lock>[]; order: [string, bigint][]; client: Etcd3 }> {
  const client = plainClient();
  const waiterSession = await Session.create(client, { ttl: 10 });
  const waiters: Promise<Lock>[] = [];
  for (let i = 0; i < 2; i++) {
    waiters.push(new Mutex(waiterSession, name).lock());
    await waitForKeys(waiterSession.client, `${name}/`, i + 2);
  }
  return { waiters, order: (await keysUnder(waiterSession.client, `${name}/`)).slice(1), client };
}

/** Releases the holder, then each waiter in turn; returns ms from `start` to the last waiter's grant. */
async function runChain(holder: Lock, waiters: Promise<Lock>[], order: [string, bigint][], start: number): Promise<number[]> {
  const times: number[] = [];
  await holder.unlock();
  times.push(performance.now() - start);
  for (const [i, waiting] of waiters.entries()) {
    const lock = await waiting;
    times.push(performance.now() - start);
    expect([lock.key, lock.fencingToken]).toEqual(order[i]);
    expect(lock.held).toBe(true);
    await lock.unlock();
  }
  return times;
}

/** The member serving `client`'s watch stream (the library says where it opened it). */
function memberServing(client: Etcd3): Member {
  const endpoint = watchStreamEndpoint(client);
  const member = cluster.members.find(m => endpoint !== undefined && m.clientUrl.endsWith(endpoint));
  if (!member) throw new Error(`no member serves the watch stream (${String(endpoint)})`);
  return member;
}

given('ownClusters').describe('a frozen etcd member while a quorum is up', () => {
  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  it('the raft leader: unlock resolves, the waiters take their turns in order, within the bound', async () => {
    const name = uniqueName('frozen-leader');
    const holder = await holderOf(name);
    const { waiters, order } = await waitersOf(name);
    const leader = await leaderOf(cluster);
    leader.freeze();
    const start = performance.now();
    try {
      const times = await runChain(holder, waiters, order, start);
      console.log(`frozen leader: unlock ${times[0]!.toFixed(0)} ms, first waiter ${times[1]!.toFixed(0)} ms, second ${times[2]!.toFixed(0)} ms after the freeze`);
      expect(times[2]).toBeLessThan(CHAIN_BOUND_MS);
    } finally {
      leader.thaw();
    }
  });

  it('the member serving the waiters’ watch stream: they hear of their turn within the bound', async () => {
    const name = uniqueName('frozen-watch');
    const holder = await holderOf(name);
    const setup = await waitersOf(name);
    const member = memberServing(setup.client);
    const leader = await leaderOf(cluster);
    member.freeze();
    const start = performance.now();
    try {
      const times = await runChain(holder, setup.waiters, setup.order, start);
      console.log(
        `frozen watch member (${member === leader ? 'the raft leader' : 'a follower'}): unlock ${times[0]!.toFixed(0)} ms, first waiter ${times[1]!.toFixed(0)} ms, second ${times[2]!.toFixed(0)} ms after the freeze`,
      );
      expect(times[2]).toBeLessThan(CHAIN_BOUND_MS);
    } finally {
      member.thaw();
    }
  });

  /** An observer of `name` on a client of its own; `next()` resolves with its next observation. */
  async function observerOf(name: string, hosts = cluster.endpoints): Promise<{ client: Etcd3; next: () => Promise<LeaderInfo | undefined>; stop: () => void }> {
    const c = new Etcd3({ hosts });
    clients.push(c);
    const stop = new AbortController();
    const seen = new Election(await Session.create(c, { ttl: 10 }), name).observe({ signal: stop.signal });
    return { client: c, next: async () => (await seen.next()).value as LeaderInfo | undefined, stop: () => stop.abort() };
  }

  it('observe(): an observer whose watch stream is on the frozen member sees the next leader within the bound', async () => {
    const name = uniqueName('frozen-observe');
    const first = await new Election(await Session.create(plainClient(), { ttl: 10 }), name).campaign('first');
    const second = new Election(await Session.create(plainClient(), { ttl: 10 }), name).campaign('second');
    const observer = await observerOf(name);
    expect(await observer.next()).toMatchObject({ value: 'first' });
    const member = memberServing(observer.client);
    member.freeze();
    const start = performance.now();
    try {
      await first.resign();
      expect(await observer.next()).toMatchObject({ value: 'second' });
      const ms = performance.now() - start;
      console.log(`frozen observer member: next leader seen ${ms.toFixed(0)} ms after the freeze`);
      expect(ms).toBeLessThan(CHAIN_BOUND_MS);
    } finally {
      member.thaw();
      observer.stop();
    }
    await (await second).resign();
  });

  it('observe(): connections reset under an observer: it carries on and sees the next leader', async () => {
    const name = uniqueName('reset-observe');
    const net = await startProxies(cluster.endpoints);
    try {
      const first = await new Election(await Session.create(plainClient(), { ttl: 10 }), name).campaign('first');
      const second = new Election(await Session.create(plainClient(), { ttl: 10 }), name).campaign('second');
      const observer = await observerOf(name, net.urls);
      expect(await observer.next()).toMatchObject({ value: 'first' });
      net.set('reset');
      net.set('pass');
      await first.resign();
      expect(await observer.next()).toMatchObject({ value: 'second' });
      observer.stop();
      await (await second).resign();
    } finally {
      await net.close();
    }
  });
});
