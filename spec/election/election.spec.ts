import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ExponentialBackoff, noop } from 'cockatiel';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  Election,
  InvalidArgumentError,
  LockTimeoutError,
  NotHeldError,
  NotLeaderError,
  LeaseLostError,
  OwnershipLostError,
  SessionClosedError,
  type CampaignOptions,
  type LeaderInfo,
  type Leadership,
  type Session,
} from '../../lib/index.js';
import {
  aborted,
  client,
  completion,
  defer,
  endpoints,
  etcdctlProcess,
  fixture,
  keysUnder,
  lineMatching,
  session,
  uniqueName,
  waitForKeys,
  waitForNoKeys,
} from '../support/etcd.js';
import { startCluster, type Member } from '../../harness/cluster.js';
import { given } from '../support/capabilities.js';
import { revokeLease } from '../support/faults.js';

type Observed = LeaderInfo | undefined;

/** Steps through `election.observe()` one state at a time; stopped after the test. */
function observer(election: Election): { next(): Promise<Observed> } {
  const controller = new AbortController();
  const states = election.observe({ signal: controller.signal });
  defer(async () => {
    controller.abort();
    await states.return();
  });
  return {
    async next() {
      const { value, done } = await states.next();
      if (done) throw new Error('observe() ended');
      return value;
    },
  };
}

/**
 * Reads a child's stdout line by line from its start: `next(pattern)` resolves with the first line
 * after the previous match that matches (lines between are skipped).
 */
function lineReader(child: ChildProcess): { next(pattern: RegExp): Promise<string> } {
  const lines: string[] = [];
  let buffer = '';
  let waiter: (() => void) | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
    waiter?.();
  });
  let cursor = 0;
  return {
    async next(pattern) {
      for (;;) {
        while (cursor < lines.length) {
          const line = lines[cursor++]!;
          if (pattern.test(line)) return line;
        }
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited before printing ${pattern}`);
        await new Promise<void>(resolve => {
          waiter = resolve;
          child.once('exit', () => resolve());
        });
      }
    },
  };
}

/**
 * A leader campaigning as 'holder', and a campaign as 'waiter' on session `s` in line behind it:
 * resolves once both keys exist. `waiting` is that campaign as it is, its rejection marked handled
 * from the start: it may come while the test's next call (a delete, a revoke) is still under way.
 */
async function waiterBehindLeader(
  c: Etcd3,
  name: string,
  options: CampaignOptions = {},
): Promise<{ holder: Leadership; s: Session; waiting: Promise<Leadership> }> {
  const holder = await new Election(await session(c), name).campaign('holder');
  const s = await session(c);
  const waiting = new Election(s, name).campaign('waiter', options);
  waiting.catch(() => undefined);
  await waitForKeys(c, `${name}/`, 2);
  return { holder, s, waiting };
}

/** The part of an observed state worth comparing. */
function brief(leader: Observed): { key: string; value: string } | undefined {
  return leader && { key: leader.key, value: leader.value };
}

describe('Election', () => {
  it('campaigns with etcd’s key layout, the value in the key, and a fencing token equal to its create revision', async () => {
    const c = client();
    const s = await session(c);
    const name = uniqueName('election');
    const election = new Election(s, name);
    expect(await election.leader()).toBeUndefined();
    const leadership = await election.campaign('pod-a:8080');
    expect(leadership.key).toBe(`${name}/${s.leaseId}`);
    expect(leadership.value).toBe('pod-a:8080');
    expect(leadership.leaseId).toBe(s.leaseId);
    expect(leadership.isLeader).toBe(true);
    const [[key, rev]] = (await keysUnder(c, `${name}/`)) as [[string, bigint]];
    expect(key).toBe(leadership.key);
    expect(leadership.fencingToken).toBe(rev);
    expect(await c.get(key).string()).toBe('pod-a:8080');
    expect(await election.leader()).toEqual({
      key,
      value: 'pod-a:8080',
      leaseId: s.leaseId,
      fencingToken: rev,
    });
    await leadership.resign();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
    expect(await election.leader()).toBeUndefined();
  });

  it('FIFO succession on resign, each successor in campaign order (and the resign-to-new-leader time)', async () => {
    const c = client();
    const name = uniqueName('election');
    const candidates = await Promise.all([0, 1, 2, 3].map(async () => new Election(await session(c), name)));
    const first = await candidates[0]!.campaign('c0');
    const order: string[] = [];
    const pending: Promise<Leadership>[] = [];
    for (let i = 1; i < candidates.length; i++) {
      pending.push(
        candidates[i]!.campaign(`c${i}`).then(leadership => {
          order.push(leadership.value);
          return leadership;
        }),
      );
      await waitForKeys(c, `${name}/`, i + 1);
    }
    const handoffs: number[] = [];
    let current = first;
    for (let i = 1; i < candidates.length; i++) {
      const startedAt = performance.now();
      await current.resign();
      const next = await pending[i - 1]!;
      handoffs.push(performance.now() - startedAt);
      expect(next.fencingToken).toBeGreaterThan(current.fencingToken);
      expect(order).toEqual(Array.from({ length: i }, (_, k) => `c${k + 1}`));
      current = next;
    }
    await current.resign();
    console.log(`resign-to-new-leader (ms): ${handoffs.map(ms => ms.toFixed(1)).join(', ')}`);
  });

  it('observe yields the leader, proclaimed values and "no leader", in order', async () => {
    const c = client();
    const name = uniqueName('election');
    const a = new Election(await session(c), name);
    const b = new Election(await session(c), name);
    const watched = observer(new Election(await session(c), name));
    expect(await watched.next()).toBeUndefined();

    const leaderA = await a.campaign('a');
    const seenA = await watched.next();
    expect(seenA).toEqual({ key: leaderA.key, value: 'a', leaseId: leaderA.leaseId, fencingToken: leaderA.fencingToken });

    await leaderA.proclaim('a2');
    expect(leaderA.value).toBe('a2');
    expect(brief(await watched.next())).toEqual({ key: leaderA.key, value: 'a2' });
    // The same value again is no change.
    await leaderA.proclaim('a2');

    // A waiting candidate is not a change either; the next state is B taking over.
    const pendingB = b.campaign('b');
    await waitForKeys(c, `${name}/`, 2);
    await leaderA.resign();
    const leaderB = await pendingB;
    const seenB = await watched.next();
    expect(brief(seenB)).toEqual({ key: leaderB.key, value: 'b' });
    expect(seenB!.fencingToken).toBeGreaterThan(seenA!.fencingToken);

    await leaderB.resign();
    expect(await watched.next()).toBeUndefined();
  });

  it('observe yields every leader in order, even one that led for a single revision', async () => {
    const c = client();
    const name = uniqueName('election');
    const elections = await Promise.all(['a', 'b', 'c'].map(async () => new Election(await session(c), name)));
    const a = await elections[0]!.campaign('a');
    const pendingB = elections[1]!.campaign('b');
    const outcomeB = pendingB.catch((e: unknown) => e);
    await waitForKeys(c, `${name}/`, 2);
    const pendingC = elections[2]!.campaign('c');
    await waitForKeys(c, `${name}/`, 3);
    const watched = observer(new Election(await session(c), name));
    expect((await watched.next())?.value).toBe('a');
    // b's key goes right after a's: b leads for one revision, possibly before it even knows.
    const [bKey] = (await keysUnder(c, `${name}/`))[1]!;
    await a.resign();
    await c.delete().key(bKey);
    expect((await watched.next())?.value).toBe('b');
    expect((await watched.next())?.value).toBe('c');
    // b either learned it led and then lost it, or never reported leadership: never a live zombie.
    const b = await outcomeB;
    if (b instanceof Error) expect(b).toBeInstanceOf(OwnershipLostError);
    else expect(await aborted((b as Leadership).signal)).toBeInstanceOf(OwnershipLostError);
    const leaderC = await pendingC;
    await leaderC.resign();
    expect(await watched.next()).toBeUndefined();
  });

  it('only direct children of the prefix count: `a` and `a/b` are independent', async () => {
    const c = client();
    const name = uniqueName('election');
    const sub = new Election(await session(c), `${name}/sub`);
    const subLeader = await sub.campaign('sub');
    const election = new Election(await session(c), name);
    expect(await election.leader()).toBeUndefined();
    const watched = observer(election);
    expect(await watched.next()).toBeUndefined();
    const leadership = await election.campaign('top');
    expect((await watched.next())?.value).toBe('top');
    expect((await sub.leader())?.value).toBe('sub');
    await subLeader.resign();
    await leadership.resign();
    expect(await watched.next()).toBeUndefined();
  });

  it('proclaim is seen through leader(); ifLeader commits only while we lead', async () => {
    const c = client();
    const name = uniqueName('election');
    const election = new Election(await session(c), name);
    const leadership = await election.campaign('v1');
    await leadership.proclaim('v2');
    expect((await election.leader())?.value).toBe('v2');
    expect((await election.leader())?.fencingToken).toBe(leadership.fencingToken);
    const counter = `${name}-counter`;
    expect((await leadership.ifLeader().then(c.put(counter).value('1')).commit()).succeeded).toBe(true);
    await leadership.resign();
    expect((await leadership.ifLeader().then(c.put(counter).value('2')).commit()).succeeded).toBe(false);
    expect(await c.get(counter).string()).toBe('1');
    await c.delete().key(counter);
  });

  it('supports await using', async () => {
    const c = client();
    const name = uniqueName('election');
    const election = new Election(await session(c), name);
    {
      await using leadership = await election.campaign('x');
      expect(leadership.isLeader).toBe(true);
    }
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  describe('proclaim after loss fails with NotLeaderError and writes nothing', () => {
    it('after our key was deleted', async () => {
      const c = client();
      const name = uniqueName('election');
      const leadership = await new Election(await session(c), name).campaign('v1');
      await c.delete().key(leadership.key);
      const error = await leadership.proclaim('v2').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotLeaderError);
      expect((error as NotLeaderError).key).toBe(leadership.key);
      expect((error as NotLeaderError).electionName).toBe(name);
      expect(await keysUnder(c, `${name}/`)).toEqual([]);
      expect(leadership.signal.reason).toBeInstanceOf(OwnershipLostError);
      expect((leadership.signal.reason as OwnershipLostError).reason).toBe('deleted');
    });

    it('after resign', async () => {
      const c = client();
      const name = uniqueName('election');
      const leadership = await new Election(await session(c), name).campaign('v1');
      await leadership.resign();
      await expect(leadership.proclaim('v2')).rejects.toBeInstanceOf(NotLeaderError);
      expect(await keysUnder(c, `${name}/`)).toEqual([]);
    });

    it('after the lease was revoked', async () => {
      const c = client();
      const name = uniqueName('election');
      const s = await session(c);
      const leadership = await new Election(s, name).campaign('v1');
      await revokeLease(endpoints(), s.leaseId);
      const reason = await aborted(leadership.signal);
      expect(reason).toBeInstanceOf(OwnershipLostError);
      await expect(leadership.proclaim('v2')).rejects.toBeInstanceOf(NotLeaderError);
      expect(await keysUnder(c, `${name}/`)).toEqual([]);
    });
  });

  describe('no zombies: a campaign out of the running never reports leadership', () => {
    it('an aborted campaign rejects with the reason, leaves no key, and stays out when its turn would come', async () => {
      const c = client();
      const name = uniqueName('election');
      const controller = new AbortController();
      const { holder, waiting } = await waiterBehindLeader(c, name, { signal: controller.signal });
      const reason = new Error('stop campaigning');
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key]);
      await holder.resign();
      await waitForNoKeys(c, `${name}/`);
      expect(await new Election(await session(c), name).leader()).toBeUndefined();
    });

    it('a campaign aborted at the moment its predecessor resigns rejects and leaves no key', async () => {
      const c = client();
      const name = uniqueName('election');
      for (let round = 0; round < 5; round++) {
        const controller = new AbortController();
        const { holder, waiting } = await waiterBehindLeader(c, name, { signal: controller.signal });
        const resigned = holder.resign();
        controller.abort(new Error('gave up'));
        await expect(waiting).rejects.toThrow('gave up');
        await resigned;
        await waitForNoKeys(c, `${name}/`);
      }
    });

    it('an already-aborted signal rejects at once without creating a key', async () => {
      const c = client();
      const name = uniqueName('election');
      const election = new Election(await session(c), name);
      await expect(election.campaign('x', { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
      expect(await keysUnder(c, `${name}/`)).toEqual([]);
    });

    it('a timed-out campaign rejects with LockTimeoutError, leaves no key, and stays out', async () => {
      const c = client();
      const name = uniqueName('election');
      const holder = await new Election(await session(c), name).campaign('holder');
      const error = await new Election(await session(c), name).campaign('late', { timeout: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect((error as LockTimeoutError).timeout).toBe(200);
      expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key]);
      await holder.resign();
      await waitForNoKeys(c, `${name}/`);
    });

    it('a resigned leadership stays resigned: signal aborted, not leader, second resign refused', async () => {
      const c = client();
      const name = uniqueName('election');
      const election = new Election(await session(c), name);
      const leadership = await election.campaign('x');
      await leadership.resign();
      expect(leadership.isLeader).toBe(false);
      expect(leadership.signal.aborted).toBe(true);
      expect((leadership.signal.reason as OwnershipLostError).reason).toBe('released');
      await expect(leadership.resign()).rejects.toBeInstanceOf(NotHeldError);
      expect(await election.leader()).toBeUndefined();
    });

    it('a waiting campaign whose key is deleted rejects with OwnershipLostError', async () => {
      const c = client();
      const name = uniqueName('election');
      const { holder, s, waiting } = await waiterBehindLeader(c, name);
      await c.delete().key(`${name}/${s.leaseId}`);
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OwnershipLostError);
      await holder.resign();
      await waitForNoKeys(c, `${name}/`);
    });

    it('a waiting campaign whose lease is revoked rejects with LeaseLostError (whichever is noticed first), and stays out', async () => {
      const c = client();
      const name = uniqueName('election');
      const { holder, s, waiting } = await waiterBehindLeader(c, name);
      await c.leaseClient.leaseRevoke({ ID: s.lease });
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toMatchObject({ reason: 'revoked', leaseId: s.leaseId });
      await holder.resign();
      await waitForNoKeys(c, `${name}/`);
      await aborted(s.signal);
      await expect(new Election(s, name).campaign('again')).rejects.toThrow();
    });

    it('a leader whose lease is revoked loses its signal and cannot write through ifLeader', async () => {
      const c = client();
      const name = uniqueName('election');
      const s = await session(c);
      const leadership = await new Election(s, name).campaign('x');
      await c.leaseClient.leaseRevoke({ ID: s.lease });
      await aborted(leadership.signal);
      expect(leadership.isLeader).toBe(false);
      expect((await leadership.ifLeader().then(c.put(`${name}-x`).value('1')).commit()).succeeded).toBe(false);
    });

    it('campaign on a closed session rejects with SessionClosedError', async () => {
      const c = client();
      const s = await session(c);
      await s.close();
      await expect(new Election(s, uniqueName('election')).campaign('x')).rejects.toBeInstanceOf(SessionClosedError);
    });
  });

  it('fails over after kill -9 of the leader’s process within TTL + 1 s (and the kill-to-new-leader time)', async () => {
    const c = client();
    const name = uniqueName('election');
    const ttl = 2;
    const child = fixture('election-candidate.ts', [name, 'doomed', String(ttl)]);
    await lineMatching(child, /^leader /);
    const waiting = new Election(await session(c), name).campaign('survivor');
    await waitForKeys(c, `${name}/`, 2);
    const killedAt = performance.now();
    child.kill('SIGKILL');
    await once(child, 'exit');
    const leadership = await waiting;
    const elapsed = performance.now() - killedAt;
    console.log(`kill-to-new-leader with TTL ${ttl} s (ms): ${elapsed.toFixed(0)}`);
    expect(elapsed).toBeLessThan(ttl * 1000 + 1000);
    expect(leadership.value).toBe('survivor');
    await leadership.resign();
  });

  given('ownClusters').it('observe keeps going across a watch reconnect and a compaction, never going back', async () => {
    // A private cluster: the observer talks to member 1 only, which we kill and restart.
    const cluster = await startCluster({ size: 3 });
    defer(() => cluster.stop());
    const [m1, m2, m3] = cluster.members as [Member, Member, Member];
    const writer = client({ hosts: [m2.clientUrl, m3.clientUrl] });
    // No circuit breaker and a short watch backoff, so the observer reconnects soon after the restart.
    const observing = client({
      hosts: [m1.clientUrl],
      // etcd3 types watchBackoff as an IBackoff but calls next() on it as on a factory.
      faultHandling: { host: () => noop, watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) as never },
    });
    const name = uniqueName('election');
    const candidates = await Promise.all(['a', 'b', 'c'].map(async () => new Election(await session(writer), name)));
    const watched = observer(new Election(await session(observing, { ttl: 120 }), name));
    expect(await watched.next()).toBeUndefined();
    const a = await candidates[0]!.campaign('a');
    expect((await watched.next())?.value).toBe('a');

    // Reconnect: while the observer is cut off, a resigns and b leads; afterwards it reads the state again.
    await m1.kill();
    await a.proclaim('a2');
    await a.resign();
    const b = await candidates[1]!.campaign('b');
    await m1.restart();
    expect(brief(await watched.next())).toEqual({ key: b.key, value: 'b' });

    // Compaction: the revision the watch would resume from is gone, so etcd cancels it; a new watch
    // and a fresh read carry on.
    await m1.kill();
    await b.resign();
    const cLeader = await candidates[2]!.campaign('c');
    const { header } = await writer.kv.range({ key: Buffer.from(name) });
    await writer.kv.compact({ revision: header.revision, physical: true });
    await m1.restart();
    const seen = await watched.next();
    expect(brief(seen)).toEqual({ key: cLeader.key, value: 'c' });
    expect(seen!.fencingToken).toBe(cLeader.fencingToken);
    await cLeader.resign();
    expect(await watched.next()).toBeUndefined();
  }, 60_000);

  it('observe leaves nothing behind: a process that breaks out, aborts and closes exits by itself', async () => {
    const name = uniqueName('election');
    const { code, lines, stderr } = await completion(fixture('election-observe-exit.ts', [name]));
    expect(stderr).toBe('');
    expect(lines).toEqual(['first: leader', 'aborted: ended', 'closed']);
    expect(code).toBe(0);
  });

  given('localEtcdctl').describe('interop with etcdctl elect', () => {
    it('`etcdctl elect N V` leads; our observer sees it and our campaign follows it', async () => {
      const c = client();
      const name = uniqueName('elect');
      const held = etcdctlProcess(['elect', name, 'from-etcdctl']);
      const etcdctlKey = await lineMatching(held, new RegExp(`^${name}/`));
      const election = new Election(await session(c), name);
      const watched = observer(election);
      const seen = await watched.next();
      expect(seen).toMatchObject({ key: etcdctlKey, value: 'from-etcdctl' });
      expect(etcdctlKey).toBe(`${name}/${seen!.leaseId}`);

      const pending = election.campaign('ours');
      await waitForKeys(c, `${name}/`, 2);
      held.kill('SIGINT'); // etcdctl resigns on an interrupt
      await once(held, 'exit');
      const leadership = await pending;
      expect(brief(await watched.next())).toEqual({ key: leadership.key, value: 'ours' });
      await leadership.resign();
    });

    it('`etcdctl elect -l N` sees our leader and proclaims; `etcdctl elect N V` waits behind us', async () => {
      const c = client();
      const name = uniqueName('elect');
      const leadership = await new Election(await session(c), name).campaign('ours');
      const listener = lineReader(etcdctlProcess(['elect', '-l', name]));
      await listener.next(new RegExp(`^${leadership.key}$`));
      await listener.next(/^ours$/);
      await leadership.proclaim('ours-2');
      await listener.next(/^ours-2$/);

      const waiting = lineReader(etcdctlProcess(['elect', name, 'theirs']));
      const keys = await waitForKeys(c, `${name}/`, 2);
      await leadership.resign();
      // etcdctl prints its key and value once elected; the listener sees the same.
      const theirKey = await waiting.next(new RegExp(`^${name}/`));
      await waiting.next(/^theirs$/);
      expect(theirKey).toBe(keys[1]![0]);
      expect(theirKey).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
      await listener.next(new RegExp(`^${theirKey}$`));
      await listener.next(/^theirs$/);
    });
  });

  describe('bad input', () => {
    it('rejects a bad session, name, value, timeout and signal', async () => {
      const s = await session(client());
      expect(() => new Election(s, '')).toThrow(InvalidArgumentError);
      expect(() => new Election({} as never, 'x')).toThrow(InvalidArgumentError);
      const election = new Election(s, uniqueName('election'));
      await expect(election.campaign(42 as unknown as string)).rejects.toThrow('Got: 42');
      await expect(election.campaign('x', { timeout: -1 })).rejects.toThrow(InvalidArgumentError);
      await expect(election.campaign('x', { signal: 'no' as unknown as AbortSignal })).rejects.toThrow(InvalidArgumentError);
      expect(() => election.observe({ signal: 'no' as unknown as AbortSignal })).toThrow(InvalidArgumentError);
      const leadership = await election.campaign('x');
      await expect(leadership.proclaim(undefined as unknown as string)).rejects.toThrow(InvalidArgumentError);
      await leadership.resign();
    });
  });
});
