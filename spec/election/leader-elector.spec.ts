import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  Election,
  InvalidArgumentError,
  LeaderElector,
  OwnershipLostError,
  type LeaderElectorOptions,
  type LeaderInfo,
  type Leadership,
} from '../../lib/index.js';
import { startCluster } from '../../harness/cluster.js';
import {
  aborted,
  client,
  defer,
  endpoints,
  etcdctl,
  fixture,
  keysUnder,
  lineMatching,
  session,
  uniqueName,
  waitForKeys,
  waitForNoKeys,
} from '../support/etcd.js';
import { given } from '../support/capabilities.js';
import { revokeLease } from '../support/faults.js';

/** What an elector did, in order, with a way to wait for the next matching entry. */
class Log {
  readonly entries: string[] = [];
  readonly signals: AbortSignal[] = [];
  readonly leaderships: Leadership[] = [];
  readonly errors: Error[] = [];
  private waiters: (() => void)[] = [];

  push(entry: string): void {
    this.entries.push(entry);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once `count` entries match `pattern`. */
  async until(pattern: RegExp, count = 1): Promise<void> {
    while (this.entries.filter(e => pattern.test(e)).length < count) {
      await new Promise<void>(resolve => this.waiters.push(resolve));
    }
  }

  /** The entries about our own terms (started/stopped). */
  get terms(): string[] {
    return this.entries.filter(e => /^(started|stopped)/.test(e));
  }
}

/** A LeaderElector that logs its callbacks; stopped after the test. */
function elector(
  c: Etcd3,
  name: string,
  value: string,
  options: Partial<LeaderElectorOptions> = {},
): { elector: LeaderElector; log: Log } {
  const log = new Log();
  const e = new LeaderElector({
    client: c,
    name,
    value,
    ttl: 5,
    onStartedLeading: async (signal, leadership) => {
      log.signals.push(signal);
      log.leaderships.push(leadership);
      log.push(`started ${leadership.leaseId}`);
      await aborted(signal);
    },
    onStoppedLeading: () => log.push('stopped'),
    onNewLeader: (leader: LeaderInfo | undefined) => log.push(`leader ${leader?.value ?? 'none'}`),
    onError: error => log.errors.push(error),
    ...options,
  });
  defer(() => e.stop());
  return { elector: e, log };
}

/**
 * Electors 'a' and 'b' on `name` ({@link elector}'s): a starts and leads, then b starts; resolves
 * once b's key is in line behind a's, with both keys, oldest first.
 */
async function aLeadsBWaits(
  c: Etcd3,
  name: string,
): Promise<{ a: LeaderElector; logA: Log; b: LeaderElector; logB: Log; keys: [string, bigint][] }> {
  const { elector: a, log: logA } = elector(c, name, 'a');
  const { elector: b, log: logB } = elector(c, name, 'b');
  await a.start();
  await logA.until(/^started/);
  await b.start();
  const keys = await waitForKeys(c, `${name}/`, 2);
  return { a, logA, b, logB, keys };
}

describe('LeaderElector', () => {
  given('etcdctl').it('leads alone, and stop() resigns: signal aborted as released, onStoppedLeading, no key left', async () => {
    const c = client();
    const name = uniqueName('elector');
    const { elector: a, log } = elector(c, name, 'a');
    expect(a.isLeader).toBe(false);
    await a.start();
    await log.until(/^started/);
    await log.until(/^leader a$/);
    expect(a.isLeader).toBe(true);
    expect(a.healthy()).toBe(true);
    const leadership = a.leadership!;
    expect(leadership.value).toBe('a');
    expect(leadership.key).toBe(`${name}/${leadership.leaseId}`);
    expect((await new Election(await session(c), name).leader())?.value).toBe('a');

    await a.stop();
    expect(log.signals[0]!.aborted).toBe(true);
    expect((log.signals[0]!.reason as OwnershipLostError).reason).toBe('released');
    expect(log.terms).toEqual([`started ${leadership.leaseId}`, 'stopped']);
    expect(a.isLeader).toBe(false);
    expect(a.leadership).toBeUndefined();
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
    // stop() closed the session: the lease is gone too.
    expect(await etcdctl(['lease', 'list'])).not.toContain(leadership.leaseId);
    expect(log.errors).toEqual([]);
  });

  it('graceful stop() hands over to the next candidate in about one round trip', async () => {
    const c = client();
    const name = uniqueName('elector');
    const { a, logA, b, logB } = await aLeadsBWaits(c, name);
    await logB.until(/^leader a$/);
    expect(b.isLeader).toBe(false);

    const stoppedAt = performance.now();
    const stopping = a.stop();
    await logB.until(/^started/);
    const handover = performance.now() - stoppedAt;
    await stopping;
    console.log(`stop()-to-new-leader (ms): ${handover.toFixed(1)}`);
    expect(logA.terms).toEqual([expect.stringMatching(/^started/), 'stopped']);
    expect(b.isLeader).toBe(true);
    await logB.until(/^leader b$/);
    expect(logB.errors).toEqual([]);
  });

  it('calls back in order across a lost lease: started, stopped, started again on a new lease', async () => {
    const c = client();
    const name = uniqueName('elector');
    const { elector: a, log } = elector(c, name, 'a');
    await a.start();
    await log.until(/^started/);
    const first = log.leaderships[0]!;
    await revokeLease(endpoints(), first.leaseId);
    await log.until(/^started/, 2);
    const second = log.leaderships[1]!;
    expect(second.leaseId).not.toBe(first.leaseId);
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    expect(log.terms).toEqual([`started ${first.leaseId}`, 'stopped', `started ${second.leaseId}`]);
    expect(log.signals[0]!.reason).toBeInstanceOf(OwnershipLostError);
    expect(log.signals[1]!.aborted).toBe(false);
    expect(a.isLeader).toBe(true);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([second.key]);
  });

  it('a candidate whose lease is lost while it waits campaigns again on a new lease, keeping its place behind the leader', async () => {
    const c = client();
    const name = uniqueName('elector');
    const { a, b, logB, keys: queued } = await aLeadsBWaits(c, name);
    const [, [waitingKey]] = queued as [unknown, [string, bigint]];
    await revokeLease(endpoints(), waitingKey.slice(name.length + 1));
    // b comes back with a new key (a new lease) behind a.
    const keys = await waitForKeysOtherThan(c, name, waitingKey);
    expect(keys).toHaveLength(2);
    await a.stop();
    await logB.until(/^started/);
    expect(b.leadership?.key).toBe(keys[1]);
  });

  it('a waiting candidate that stops never starts leading (no zombie)', async () => {
    const c = client();
    const name = uniqueName('elector');
    const holder = await new Election(await session(c), name).campaign('holder');
    const { elector: b, log } = elector(c, name, 'b');
    await b.start();
    await waitForKeys(c, `${name}/`, 2);
    await b.stop();
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holder.key]);
    await holder.resign();
    await waitForNoKeys(c, `${name}/`);
    expect(log.terms).toEqual([]);
    expect(b.isLeader).toBe(false);
  });

  it('stop() racing with our turn never calls onStartedLeading', async () => {
    const c = client();
    const name = uniqueName('elector');
    for (let round = 0; round < 3; round++) {
      const holder = await new Election(await session(c), name).campaign('holder');
      const { elector: b, log } = elector(c, name, 'b');
      await b.start();
      await waitForKeys(c, `${name}/`, 2);
      const resigned = holder.resign();
      await b.stop();
      await resigned;
      await waitForNoKeys(c, `${name}/`);
      expect(log.terms).toEqual(log.terms.length === 0 ? [] : [expect.stringMatching(/^started/), 'stopped']);
    }
  });

  it('when onStartedLeading throws, it reports the error, resigns, and campaigns again', async () => {
    const c = client();
    const name = uniqueName('elector');
    const log = new Log();
    let calls = 0;
    const e = new LeaderElector({
      client: c,
      name,
      value: 'flaky',
      ttl: 5,
      onStartedLeading: async signal => {
        calls++;
        log.push(`started ${calls}`);
        if (calls === 1) throw new Error('job failed');
        await aborted(signal);
      },
      onStoppedLeading: () => log.push('stopped'),
      onError: error => log.errors.push(error),
    });
    defer(() => e.stop());
    await e.start();
    await log.until(/^started 2$/);
    expect(log.terms).toEqual(['started 1', 'stopped', 'started 2']);
    expect(log.errors.map(err => err.message)).toEqual(["LeaderElector's onStartedLeading threw: job failed"]);
    expect((log.errors[0]!.cause as Error).message).toBe('job failed');
  });

  it('can be started again after stop()', async () => {
    const c = client();
    const name = uniqueName('elector');
    const { elector: a, log } = elector(c, name, 'a');
    await Promise.all([a.start(), a.start()]);
    await log.until(/^started/);
    await Promise.all([a.stop(), a.stop()]);
    await a.start();
    await log.until(/^started/, 2);
    expect(log.terms).toEqual([expect.stringMatching(/^started/), 'stopped', expect.stringMatching(/^started/)]);
    expect(log.leaderships[1]!.leaseId).not.toBe(log.leaderships[0]!.leaseId);
  });

  it('fails over after kill -9 of the leader’s process within TTL + 1 s (and the kill-to-new-leader time)', async () => {
    const c = client();
    const name = uniqueName('elector');
    const ttl = 2;
    const child = fixture('election-elector.ts', [name, 'doomed', String(ttl)]);
    await lineMatching(child, /^started /);
    const { elector: b, log } = elector(c, name, 'survivor', { ttl });
    await b.start();
    await waitForKeys(c, `${name}/`, 2);
    await log.until(/^leader doomed$/);
    const killedAt = performance.now();
    child.kill('SIGKILL');
    await once(child, 'exit');
    await log.until(/^started/);
    const elapsed = performance.now() - killedAt;
    console.log(`elector kill-to-new-leader with TTL ${ttl} s (ms): ${elapsed.toFixed(0)}`);
    expect(elapsed).toBeLessThan(ttl * 1000 + 1000);
  });

  it('SIGTERM on a leader process that calls stop() hands over at once', async () => {
    const c = client();
    const name = uniqueName('elector');
    const child = fixture('election-elector.ts', [name, 'first', '30']);
    await lineMatching(child, /^started /);
    const { elector: b, log } = elector(c, name, 'second', { ttl: 30 });
    await b.start();
    await waitForKeys(c, `${name}/`, 2);
    const exited = lineMatching(child, /^exited$/);
    child.kill('SIGTERM');
    // With a 30 s TTL, leading now proves the handover came from stop(), not from the lease.
    await log.until(/^started/);
    await exited;
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  given('ownClusters').it('healthy() is false while it leads with its keepalive overdue (etcd frozen), and true again after', async () => {
    const cluster = await startCluster({ size: 1 });
    defer(() => cluster.stop());
    const member = cluster.members[0]!;
    defer(async () => member.thaw());
    const c = client({ hosts: cluster.endpoints });
    const { elector: a, log } = elector(c, uniqueName('elector'), 'a', { ttl: 3, callTimeout: 1000 });
    await a.start();
    await log.until(/^started/);
    expect(a.healthy()).toBe(true);
    member.freeze();
    await until(() => a.isLeader && !a.healthy());
    member.thaw();
    await until(() => a.isLeader && a.healthy());
  }, 60_000);

  describe('examples/scheduler.ts', () => {
    it('runs the job on the leader only; SIGTERM on the leader hands over to the next one', async () => {
      const name = uniqueName('scheduler');
      const first = example(name);
      await lineMatching(first, /\] job ran/);
      const second = example(name);
      let secondOut = '';
      second.stdout!.on('data', (d: Buffer) => (secondOut += d.toString()));
      await lineMatching(second, /\] leader is /);
      const firstExited = once(first, 'exit');
      // One listener from here on: the second's first run proves it leads.
      const secondRuns = lineMatching(second, /\] job ran/);
      expect(secondOut).not.toMatch(/job ran|\] leading/);
      first.kill('SIGTERM');
      await secondRuns;
      const [code] = (await firstExited) as [number | null];
      expect(code).toBe(0);
    });
  });

  describe('bad options', () => {
    it('throws InvalidArgumentError naming the option and its value', () => {
      const c = client();
      const ok: LeaderElectorOptions = { client: c, name: 'x', onStartedLeading: () => undefined };
      const bad = (options: Partial<LeaderElectorOptions>): unknown => {
        try {
          new LeaderElector({ ...ok, ...options } as LeaderElectorOptions);
        } catch (error) {
          return error;
        }
        return undefined;
      };
      expect(() => new LeaderElector(undefined as never)).toThrow(InvalidArgumentError);
      expect(bad({ client: {} as never })).toMatchObject({ argument: 'client' });
      expect(bad({ name: '' })).toMatchObject({ argument: 'name' });
      expect(bad({ ttl: 0 })).toMatchObject({ argument: 'ttl', message: expect.stringContaining('Got: 0') });
      expect(bad({ ttl: 1.5 })).toMatchObject({ argument: 'ttl' });
      expect(bad({ value: 7 as never })).toMatchObject({ argument: 'value' });
      expect(bad({ onStartedLeading: undefined as never })).toMatchObject({ argument: 'onStartedLeading' });
      expect(bad({ onNewLeader: 'x' as never })).toMatchObject({ argument: 'onNewLeader' });
      expect(bad({ onStoppedLeading: 1 as never })).toMatchObject({ argument: 'onStoppedLeading' });
      expect(bad({ onError: {} as never })).toMatchObject({ argument: 'onError' });
      expect(bad({ callTimeout: -5 })).toMatchObject({ argument: 'callTimeout' });
      expect(bad({ retryPolicy: {} as never })).toMatchObject({ argument: 'retryPolicy' });
      expect(bad({})).toBeUndefined();
    });
  });
});

/** Resolves once the keys under `name/` (oldest first) satisfy `ok`; watches, then reads. */
async function waitForKeysOtherThan(c: Etcd3, name: string, gone: string): Promise<string[]> {
  const watcher = await c.watch().prefix(`${name}/`).create();
  try {
    for (;;) {
      const changed = once(watcher, 'data');
      const keys = (await keysUnder(c, `${name}/`)).map(([k]) => k);
      if (keys.length >= 2 && !keys.includes(gone)) return keys;
      await changed;
    }
  } finally {
    await watcher.cancel();
  }
}

/**
 * Polls a condition of local state that no event announces (a keepalive becoming overdue), every
 * 20 ms; the test's own timeout bounds it.
 */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise(resolve => setTimeout(resolve, 20));
}

const exampleFile = fileURLToPath(new URL('../../examples/scheduler.ts', import.meta.url));

/** Runs examples/scheduler.ts as a user would (through tsx), with a short job interval. */
function example(name: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', exampleFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(','), ELECTION: name, TTL: '30', INTERVAL_MS: '200' },
  });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child;
}
