import { cp, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Etcd3Module from 'etcd3';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPermissionError, isTransient } from '../../lib/etcd/classify.js';
import { Election, EtcdUnavailableError, LeaderElector, Mutex, Session, type Leadership } from '../../lib/index.js';
import { endpoints, uniqueName } from '../support/etcd.js';

/**
 * An application with its own copy of etcd3 next to the library's: two installs of the same package,
 * each with its own classes and its own marker symbol for retryable errors. The copy is made under
 * node_modules, so it resolves etcd3's own dependencies as an installed copy would.
 */
let B: typeof Etcd3Module;
beforeAll(async () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const from = dirname(createRequire(import.meta.url).resolve('etcd3/package.json'));
  const to = join(root, 'node_modules', '.second-etcd3', 'node_modules', 'etcd3');
  await mkdir(dirname(to), { recursive: true });
  await cp(from, to, { recursive: true });
  B = createRequire(join(to, 'package.json'))('./lib/index.js') as typeof Etcd3Module;
  expect(B.Etcd3).not.toBe((await import('etcd3')).Etcd3);
});

describe('an application’s own copy of etcd3', () => {
  const clientB = (hosts = endpoints()): Etcd3Module.Etcd3 => new B.Etcd3({ hosts }) as unknown as Etcd3Module.Etcd3;

  it('an unreachable cluster is retried until the timeout, then EtcdUnavailableError (not a raw UNAVAILABLE at once)', async () => {
    const c = clientB(['127.0.0.1:1']);
    const started = performance.now();
    await expect(Session.create(c, { timeout: 1000 })).rejects.toBeInstanceOf(EtcdUnavailableError);
    expect(performance.now() - started).toBeGreaterThan(900);
    c.close();
  });

  it('its errors are classified by code and message: outages transient, refusals permission errors', () => {
    expect(isTransient(new B.GRPCUnavailableError('14 UNAVAILABLE: No connection established'))).toBe(true);
    expect(isTransient(new B.GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe(true);
    expect(isPermissionError(new B.EtcdPermissionDeniedError('etcdserver: permission denied'))).toBe(true);
    expect(isPermissionError(new B.EtcdRoleNotGrantedError('etcdserver: role is not granted to the user'))).toBe(true);
  });

  it('sessions, locks, elections and a LeaderElector work on its clients', async () => {
    const c = clientB();
    try {
      const session = await Session.create(c, { ttl: 5 });
      const name = uniqueName('second-copy');
      const lock = await new Mutex(session, name).lock();
      expect((await lock.ifOwner().then(c.put(`${name}-x`).value('1')).commit()).succeeded).toBe(true);
      await lock.unlock();
      const leadership = await new Election(session, name).campaign('b');
      expect(await new Election(session, name).leader()).toMatchObject({ value: 'b' });
      await leadership.resign();
      await session.close();

      const led = new Promise<Leadership>(resolve => {
        const elector = new LeaderElector({
          client: c,
          name,
          ttl: 5,
          onStartedLeading: (_signal, l) => {
            resolve(l);
            void elector.stop();
          },
        });
        void elector.start();
      });
      expect((await led).fencingToken).toBeGreaterThan(0n);
      await c.delete().key(`${name}-x`);
    } finally {
      c.close();
    }
  });
});
