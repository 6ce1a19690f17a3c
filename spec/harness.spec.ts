import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Mutex, Session } from '../lib/index.js';
import { startCluster, waitHealthy, type Cluster } from '../harness/cluster.js';
import { uniqueName } from './support/etcd.js';
import { leaderOf } from './support/faults.js';
import { given } from './support/capabilities.js';


given('ownClusters').describe('test harness: a throwaway cluster of our own', () => {
  let cluster: Cluster;
  let client: Etcd3;
  beforeAll(async () => {
    cluster = await startCluster();
    client = new Etcd3({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  // Generous limits: killing or freezing the raft leader stalls writes until the others elect one,
  // which takes seconds on a loaded 2-core machine.
  async function cycle(): Promise<bigint> {
    const session = await Session.create(client, { ttl: 5, timeout: 20_000 });
    try {
      const lock = await new Mutex(session, uniqueName()).lock({ timeout: 20_000 });
      await lock.unlock();
      return lock.fencingToken;
    } finally {
      await session.close();
    }
  }

  it('starts three healthy members on loopback', async () => {
    expect(cluster.members).toHaveLength(3);
    for (const m of cluster.members) expect(m.clientUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const status = await client.maintenance.status();
    expect(status.version).toMatch(/^3\./);
    expect(await cycle()).toBeGreaterThan(0n);
  });

  it('kills and restarts the raft leader; locks work throughout', async () => {
    const m1 = await leaderOf(cluster);
    await m1!.kill();
    expect(m1!.pid).toBeUndefined();
    expect(await cycle()).toBeGreaterThan(0n);
    await m1!.restart();
    expect(m1!.pid).toBeGreaterThan(0);
    await waitHealthy(cluster.members.map(m => m.metricsUrl));
    expect(await cycle()).toBeGreaterThan(0n);
  });

  it('freezes and thaws the raft leader; locks work with the two others', async () => {
    const m2 = await leaderOf(cluster);
    m2.freeze();
    try {
      // The client may be connected to the frozen member: its calls time out and move on.
      const clientOfOthers = new Etcd3({ hosts: cluster.members.filter(m => m !== m2).map(m => m.clientUrl) });
      try {
        const session = await Session.create(clientOfOthers, { ttl: 5, timeout: 20_000 });
        const lock = await new Mutex(session, uniqueName()).lock({ timeout: 20_000 });
        await lock.unlock();
        await session.close();
      } finally {
        clientOfOthers.close();
      }
    } finally {
      m2.thaw();
    }
    await waitHealthy(cluster.members.map(m => m.metricsUrl));
  });
});
