import { createRequire } from 'node:module';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_ETCD3, WARNING_CODE, etcd3Version, shapeProblem, transportOf } from '../../lib/etcd/internals.js';
import { Mutex, Session } from '../../lib/index.js';
import { client, uniqueName } from '../support/etcd.js';

describe('etcd3 internals', () => {
  it(`the installed etcd3 is in the supported range (${SUPPORTED_ETCD3}) and has every shape the library relies on`, () => {
    const version = etcd3Version();
    const [major, minor] = version.split('.').map(Number) as [number, number];
    expect(major === 1 && minor >= 1, `etcd3 ${version} is outside ${SUPPORTED_ETCD3}: check lib/etcd/internals.ts against it, then widen the range`).toBe(true);
    const peer = (createRequire(import.meta.url)('../../package.json') as { peerDependencies?: Record<string, string> }).peerDependencies;
    if (peer?.etcd3) expect(peer.etcd3).toBe('^1.1.0');
    const c = client();
    expect(shapeProblem((c as unknown as { pool: unknown }).pool)).toBeUndefined();
    expect(transportOf(c).direct).toBe(true);
    expect(transportOf(c).endpoints.length).toBeGreaterThan(0);
  });

  it('names what is missing when a shape changed', () => {
    expect(shapeProblem(undefined)).toMatch(/no connection pool/);
    expect(shapeProblem({ hosts: [] })).toMatch(/pool\.hosts/);
    expect(shapeProblem({ hosts: [{ host: 'h:1', getServiceClient: () => ({}) }] })).toMatch(/authenticator/);
  });

  it('without the expected shapes: one warning with a code, and locks still work through etcd3’s public API', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const real = client();
      // A client whose pool is not what the library expects (as a future etcd3 might have it).
      const changed = Object.create(real, { pool: { value: { hosts: 'not a list' } } }) as Etcd3;
      expect(transportOf(changed).direct).toBe(false);
      const session = await Session.create(changed, { ttl: 5 });
      const lock = await new Mutex(session, uniqueName('fallback')).lock();
      await lock.unlock();
      await session.close();
      await new Promise(resolve => setImmediate(resolve));
      const ours = warnings.filter(w => (w as { code?: string }).code === WARNING_CODE);
      expect(ours).toHaveLength(1);
      expect(ours[0]!.message).toMatch(/pool\.hosts/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
