import { startCluster, type Cluster } from '../../harness/cluster.js';

/** Where the tests find etcd, and whether they own it (and may kill its members). */
export interface Target {
  readonly endpoints: string[];
  /** The local cluster when the harness started one, else undefined (external or container). */
  readonly cluster: Cluster | undefined;
  stop(): Promise<void>;
}

/**
 * Picks the etcd the tests run against:
 * - `ETCD_ENDPOINTS` (comma-separated): an existing cluster, e.g. from `docker compose up`;
 * - `ETCD_TESTCONTAINERS=1`: one etcd container started with testcontainers (needs Docker);
 * - otherwise: a throwaway 3-member cluster of the local `etcd` binary (`ETCD_BIN` or PATH).
 */
export async function startTarget(): Promise<Target> {
  const external = process.env.ETCD_ENDPOINTS?.trim();
  if (external) {
    return { endpoints: external.split(',').map(s => s.trim()), cluster: undefined, stop: async () => undefined };
  }
  if (process.env.ETCD_TESTCONTAINERS === '1') return startContainer();
  const cluster = await startCluster();
  return { endpoints: cluster.endpoints, cluster, stop: () => cluster.stop() };
}

async function startContainer(): Promise<Target> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const image = process.env.ETCD_IMAGE ?? 'quay.io/coreos/etcd:v3.4.23';
  const container = await new GenericContainer(image)
    .withCommand([
      'etcd',
      '--listen-client-urls=http://0.0.0.0:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
    ])
    .withExposedPorts(2379)
    .withWaitStrategy(Wait.forHttp('/health', 2379).forResponsePredicate(body => body.includes('"health":"true"')))
    .start();
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(2379)}`;
  return { endpoints: [endpoint], cluster: undefined, stop: async () => void (await container.stop()) };
}
