import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Election, InvalidArgumentError, LockTimeoutError, Mutex, Session } from '../lib/index.js';
import { isEntryOf, prefixOf } from '../lib/queue/layout.js';
import { MAX_NAME_BYTES, MAX_REQUEST_BYTES, MAX_TIMEOUT_MS, MAX_TTL_SECONDS } from '../lib/util/validate.js';
import { freePorts, startCluster, type Cluster } from '../harness/cluster.js';
import { client, keysUnder, session, uniqueName } from './support/etcd.js';
import { given } from './support/capabilities.js';

/** Locks `name`, checks etcd holds exactly our key under the name's prefix, unlocks, checks it is gone. */
async function lockRoundTrip(c: Etcd3, s: Session, name: string): Promise<void> {
  const lock = await new Mutex(s, name).lock({ timeout: 10_000 });
  expect(lock.key).toBe(`${name}/${s.leaseId}`);
  expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([lock.key]);
  await lock.unlock();
  expect(await keysUnder(c, `${name}/`)).toEqual([]);
}

/**
 * An etcd3 client on a port where nothing listens: anything that reached the network would fail
 * with EtcdUnavailableError, so an InvalidArgumentError from it proves nothing was sent.
 */
async function clientNowhere(): Promise<Etcd3> {
  const [port] = await freePorts(1);
  return new Etcd3({ hosts: `http://127.0.0.1:${port}` });
}

describe('hostile input', () => {
  describe('names', () => {
    it('works with unusual bytes and slashes, stores the exact bytes, and leaves nothing', async () => {
      const c = client();
      const s = await session(c);
      const base = uniqueName('hostile');
      const variants = [
        `${base}/with spaces`,
        `${base}/per%cent%2F%00`,
        `${base}/nul\0byte\0`,
        `${base}/tab\tnew\nline\r`,
        `${base}/日本語のロック`,
        `${base}/emoji🔒🗝️`,
        `${base}/combining é vs é`,
        `${base}/trailing/`,
        `${base}//double//slashes`,
        `${base}/./..`,
        `${base}/*?[glob]`,
        `${base}/back\\slash`,
        `${base}/"quotes'`,
        `/${base}/leading`,
        `//${base}`,
      ];
      for (const name of variants) await lockRoundTrip(c, s, name);
      // Precomposed and decomposed é are different names, as their bytes differ: no normalisation.
      const [nfc, nfd] = [`${base}/\u00e9`, `${base}/e\u0301`];
      const a = await new Mutex(s, nfc).lock();
      const b = await new Mutex(s, nfd).tryLock();
      expect(b).not.toBeNull();
      await Promise.all([a.unlock(), b!.unlock()]);
      expect(await keysUnder(c, base)).toEqual([]);
      expect(await keysUnder(c, `/${base}`)).toEqual([]);
    });

    it('a name that is a prefix of another is an independent lock (a, a/b, a/, and a/<holder key>)', async () => {
      const c = client();
      const a = uniqueName('prefix');
      const [s1, s2, s3, s4] = await Promise.all([session(c), session(c), session(c), session(c)]);
      const holdA = await new Mutex(s1, a).lock();
      // Each of these acquires at once although `a` is held and their keys all start with `a/`.
      const holdAB = await new Mutex(s2, `${a}/b`).tryLock();
      const holdASlash = await new Mutex(s3, `${a}/`).tryLock();
      const holdAKey = await new Mutex(s4, holdA.key).tryLock(); // the name is `a`'s holder key
      expect([holdAB, holdASlash, holdAKey].every(l => l !== null)).toBe(true);
      // ... and they do not count as `a`'s queue: a waiter on `a` still waits for `a`'s holder only.
      expect(await new Mutex(s2, a).tryLock()).toBeNull();
      let acquired = false;
      const waiter = new Mutex(s2, a).lock().then(l => {
        acquired = true;
        return l;
      });
      await holdAB!.unlock();
      await holdASlash!.unlock();
      await holdAKey!.unlock();
      expect(acquired).toBe(false);
      await holdA.unlock();
      await (await waiter).unlock();
      expect(await keysUnder(c, a)).toEqual([]);
    });

    it('isEntryOf takes direct children only', () => {
      const prefix = prefixOf('a');
      expect(isEntryOf(prefix, 'a/694d7a3b2c1d')).toBe(true);
      expect(isEntryOf(prefix, 'a/694d7a3b2c1d_1')).toBe(true);
      expect(isEntryOf(prefix, 'a/')).toBe(false);
      expect(isEntryOf(prefix, 'a/b/694d7a3b2c1d')).toBe(false);
      expect(isEntryOf(prefix, 'a//694d7a3b2c1d')).toBe(false);
      expect(isEntryOf(prefix, 'ab/694d7a3b2c1d')).toBe(false);
      expect(isEntryOf(prefixOf('a/'), 'a//694d7a3b2c1d')).toBe(true);
    });

    it(`a name of ${MAX_NAME_BYTES} bytes works; one byte more is an InvalidArgumentError naming the size, not the name`, async () => {
      const c = client();
      const s = await session(c);
      const base = `${uniqueName('long')}/`;
      const fits = base + 'x'.repeat(MAX_NAME_BYTES - Buffer.byteLength(base));
      await lockRoundTrip(c, s, fits);
      // Multi-byte characters count in bytes: 2 bytes each.
      const room = MAX_NAME_BYTES - Buffer.byteLength(base);
      const wide = base + 'x'.repeat(room % 2) + 'é'.repeat(Math.floor(room / 2));
      expect(Buffer.byteLength(wide)).toBe(MAX_NAME_BYTES);
      await lockRoundTrip(c, s, wide);
      for (const tooLong of [`${fits}x`, `${wide}é`, 'n'.repeat(2 * 1024 * 1024)]) {
        let error: unknown;
        try {
          new Mutex(s, tooLong);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).argument).toBe('name');
        expect((error as Error).message).toContain(`Got: ${Buffer.byteLength(tooLong)} bytes`);
        expect((error as Error).message.length).toBeLessThan(200);
      }
      expect(await keysUnder(c, base)).toEqual([]);
    });

    it('the longest name with the largest election value fits in one request to etcd (default --max-request-bytes)', async () => {
      const c = client();
      const s = await session(c);
      const base = `${uniqueName('big')}/`;
      const name = base + 'n'.repeat(MAX_NAME_BYTES - Buffer.byteLength(base));
      const largest = 'v'.repeat(MAX_REQUEST_BYTES / 2);
      const election = new Election(s, name);
      const leadership = await election.campaign(largest);
      expect((await election.leader())?.value.length).toBe(largest.length);
      await leadership.proclaim(`${largest.slice(1)}w`);
      expect((await election.leader())?.value.endsWith('w')).toBe(true);
      await expect(election.campaign(`${largest}v`)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(leadership.proclaim(`${largest}v`)).rejects.toBeInstanceOf(InvalidArgumentError);
      await leadership.resign();
      expect(await keysUnder(c, base)).toEqual([]);
    });

    it('rejects names etcd would alias (lone surrogates) and names that are not non-empty strings', async () => {
      const s = await session(client());
      for (const name of ['\uD800', `${uniqueName()}/\uDBFF`, 'a\uDC00b', '', 42, null, undefined, {}, ['a'], Symbol('a')]) {
        expect(() => new Mutex(s, name as string), String(typeof name === 'symbol' ? 'symbol' : JSON.stringify(name))).toThrow(
          InvalidArgumentError,
        );
      }
      // A proper surrogate pair is fine.
      expect(new Mutex(s, '\uD83D\uDD12').name).toBe('🔒');
    });
  });

  describe('TTLs', () => {
    it('accepts 1 (etcd raises it to its minimum) and the maximum, and the lease works', async () => {
      const c = client();
      for (const ttl of [1, MAX_TTL_SECONDS]) {
        const s = await session(c, { ttl });
        // etcd grants at least its minimum TTL (2 s with the default election timeout).
        expect(s.ttl).toBeGreaterThanOrEqual(ttl);
        const name = uniqueName('ttl');
        await lockRoundTrip(c, s, name);
        const live = await c.leaseClient.leaseTimeToLive({ ID: s.lease });
        expect(Number(live.grantedTTL)).toBe(s.ttl);
        // A deadline timer that overflowed Node's 2^31-1 ms would already have ended the session.
        expect(s.ended).toBe(false);
        expect(s.remainingMs).toBeGreaterThan(0);
        await s.close();
      }
    });

    it('rejects 0, negatives, fractions, NaN, infinities, non-numbers and anything over the maximum before any request', async () => {
      const nowhere = await clientNowhere();
      try {
        const bad = [0, -1, 0.5, 1.5, NaN, Infinity, -Infinity, MAX_TTL_SECONDS + 1, 9_000_000_000, 2 ** 53, '10', 10n, {}];
        for (const ttl of bad) {
          const error = await Session.create(nowhere, { ttl: ttl as number, timeout: 1000 }).catch((e: unknown) => e);
          expect(error, String(ttl)).toBeInstanceOf(InvalidArgumentError);
          expect((error as InvalidArgumentError).argument).toBe('ttl');
          expect((error as Error).message).toMatch(/^The TTL of a lease must be a whole number of seconds from 1 to \d+\. Got: .+$/);
        }
      } finally {
        nowhere.close();
      }
    });
  });

  describe('timeouts', () => {
    it('timeout 0 gives up at once when held; the largest timeout Node can wait is accepted; beyond is rejected', async () => {
      const c = client();
      const name = uniqueName('timeout');
      const holder = await new Mutex(await session(c), name).lock();
      const s = await session(c);
      await expect(new Mutex(s, name).lock({ timeout: 0 })).rejects.toBeInstanceOf(LockTimeoutError);
      for (const timeout of [-1, NaN, Infinity, MAX_TIMEOUT_MS + 1, 3e9]) {
        await expect(new Mutex(s, name).lock({ timeout }), String(timeout)).rejects.toBeInstanceOf(InvalidArgumentError);
      }
      await expect(Session.create(c, { timeout: MAX_TIMEOUT_MS + 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(Session.create(c, { callTimeout: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
      // A timer of 2^31 ms would fire at once: the longest valid one really waits.
      const waiting = new Mutex(s, name).lock({ timeout: MAX_TIMEOUT_MS });
      await holder.unlock();
      await (await waiting).unlock();
      expect(await keysUnder(c, `${name}/`)).toEqual([]);
    });
  });
});

given('ownClusters').describe('a server with a smaller --max-request-bytes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ size: 1, args: ['--max-request-bytes=16384'] });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses a name within our limit but over its own with a typed error at once; the client stays usable and nothing is left', async () => {
    const c = new Etcd3({ hosts: cluster.endpoints });
    const s = await Session.create(c, { ttl: 10 });
    try {
      const name = `big/${'x'.repeat(8000)}`;
      const error = await new Mutex(s, name).lock().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/too large/);
      expect((error as Error).message.length).toBeLessThan(400);
      // Not retried into etcd3's circuit breaker: the same client goes on working.
      const lock = await new Mutex(s, 'small').lock();
      await lock.unlock();
      expect((await c.getAll().keys()).map(String)).toEqual([]);
    } finally {
      await s.close();
      c.close();
    }
  });
});
