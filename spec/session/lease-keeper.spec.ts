import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../harness/cluster.js';
import { Session } from '../../lib/index.js';
import { given } from '../support/capabilities.js';
import { startProxies } from '../support/proxy.js';

/** How many LeaseKeepAlive streams the member has started (etcd's gRPC server counter). */
async function keepAliveStreams(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const match = /^grpc_server_started_total\{[^}]*grpc_method="LeaseKeepAlive"[^}]*\} (\S+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** Resolves once `count()` reaches `atLeast` (polled: etcd's counters have no watch). */
async function reaches(count: () => Promise<number>, atLeast: number): Promise<number> {
  for (;;) {
    const n = await count();
    if (n >= atLeast) return n;
    await new Promise(resolve => setImmediate(resolve));
  }
}

let cluster: Cluster;

given('ownClusters').describe('the lease keeper', () => {
  beforeAll(async () => {
    cluster = await startCluster({ size: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('opens its keepalive stream at the grant, and reopens one reset in the first third of the TTL at once', async () => {
    const member = cluster.members[0]!;
    const net = await startProxies(cluster.endpoints);
    const client = new Etcd3({ hosts: net.urls });
    try {
      const before = await keepAliveStreams(member.metricsUrl);
      // TTL 30 s: the first keepalive is due after 10 s; the stream is there long before.
      const session = await Session.create(client, { ttl: 30 });
      const opened = performance.now();
      await reaches(() => keepAliveStreams(member.metricsUrl), before + 1);
      net.set('reset');
      net.set('pass');
      await reaches(() => keepAliveStreams(member.metricsUrl), before + 2);
      const reopened = performance.now() - opened;
      console.log(`keepalive stream reset in the first third of the TTL: a new one ${reopened.toFixed(0)} ms after the grant`);
      expect(reopened).toBeLessThan(10_000);
      expect(session.ended).toBe(false);
      await session.close();
    } finally {
      client.close();
      await net.close();
    }
  });
});
