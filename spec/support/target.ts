import { execFile, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { startCluster, type Cluster } from '../../harness/cluster.js';
import { endpointsFromEnv, selectedMode, type Mode } from '../../harness/environment.js';

const run = promisify(execFile);

/** Where the tests find etcd, and whether they own it (and may kill its members). */
export interface Target {
  readonly mode: Mode;
  readonly endpoints: string[];
  /** The local cluster when the harness started one, else undefined (external or container). */
  readonly cluster: Cluster | undefined;
  /** The etcd container's id in testcontainers mode (for `docker exec … etcdctl`), else undefined. */
  readonly container: string | undefined;
  stop(): Promise<void>;
}

/** The etcd image of testcontainers mode: `ETCD_IMAGE`, else etcd's own (build one offline with docker/build-etcd-image.sh). */
export function etcdImage(): string {
  return process.env.ETCD_IMAGE || 'quay.io/coreos/etcd:v3.4.23';
}

/**
 * Picks the etcd the tests run against (harness/environment.ts says which):
 * - `ETCD_ENDPOINTS` (comma-separated): an existing cluster, e.g. from `docker compose up`;
 * - `ETCD_TESTCONTAINERS=1`: one etcd container started with testcontainers (needs Docker);
 * - otherwise: a throwaway 3-member cluster of the local `etcd` binary (`ETCD_BIN` or PATH).
 */
export async function startTarget(): Promise<Target> {
  const mode = selectedMode();
  switch (mode) {
    case 'endpoints':
      return { mode, endpoints: endpointsFromEnv(), cluster: undefined, container: undefined, stop: async () => undefined };
    case 'testcontainers':
      return startContainer();
    case 'local': {
      const cluster = await startCluster();
      return { mode, endpoints: cluster.endpoints, cluster, container: undefined, stop: () => cluster.stop() };
    }
  }
}

/** The label on every container the suite starts: `<hostname>:<pid>` of the process that started it. */
const OWNER_LABEL = 'etcd-concurrency.tests.owner';
const owner = `${hostname()}:${process.pid}`;

/** Where the suite's etcd container publishes its port, hence where testcontainers and the tests reach it. */
const LOOPBACK = '127.0.0.1';

/** Removes containers left by earlier runs on this host whose process is gone (no reaper container runs: see below). */
async function removeOrphans(): Promise<void> {
  let listed: string;
  try {
    ({ stdout: listed } = await run('docker', ['ps', '-a', '--filter', `label=${OWNER_LABEL}`, '--format', `{{.ID}} {{.Label "${OWNER_LABEL}"}}`]));
  } catch {
    return; // no docker CLI: testcontainers still works through the socket
  }
  const orphans = listed
    .split('\n')
    .map(line => line.trim().split(' '))
    .filter(([id, by]) => id && by?.startsWith(`${hostname()}:`) && !alive(Number(by.slice(hostname().length + 1))))
    .map(([id]) => id!);
  if (orphans.length > 0) await run('docker', ['rm', '-f', '-v', ...orphans]).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startContainer(): Promise<Target> {
  // testcontainers' reaper ("ryuk") is an image of its own, which offline machines cannot pull. We
  // remove our container ourselves: stop() below, at exit, and orphans of killed runs on the next run.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  // The port is published on 127.0.0.1 only (publishOnLoopback below), so 127.0.0.1 is where both
  // testcontainers' wait strategy and the tests must reach it. Left to itself, testcontainers picks
  // another host when it finds /.dockerenv (this process runs in a container, as CI's does): the
  // bridge network's gateway, which dockerd lists (172.17.0.1) when docker0 already had its address
  // as it started, i.e. on every daemon start after the first on a machine. Its /health probe then
  // went to 172.17.0.1:<port>, where nothing listens, and timed out after 60 s. (Otherwise it tries
  // to pull alpine for `ip route`, fails offline, and falls back to localhost, which worked.) Set
  // before testcontainers first builds its runtime client, which keeps the host it resolved.
  if (process.env.TESTCONTAINERS_HOST_OVERRIDE && process.env.TESTCONTAINERS_HOST_OVERRIDE !== LOOPBACK) {
    throw new Error(
      `TESTCONTAINERS_HOST_OVERRIDE=${process.env.TESTCONTAINERS_HOST_OVERRIDE}: the tests publish etcd's port on ${LOOPBACK} only, so it can only be reached there`,
    );
  }
  process.env.TESTCONTAINERS_HOST_OVERRIDE = LOOPBACK;
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
  if (host !== LOOPBACK) {
    // A runtime strategy that ignores the override (testcontainers' `tc.host` setting): say so now rather than time out.
    throw new Error(`testcontainers reaches containers at ${host}, but the tests publish etcd's port on ${LOOPBACK} only`);
  }
  await removeOrphans();
  const generic = new GenericContainer(etcdImage())
    // Whatever the image's ENTRYPOINT (etcd's own image has none, others run a shell script or etcd
    // itself), run etcd with our flags.
    .withEntrypoint(['etcd'])
    .withCommand([
      '--listen-client-urls=http://0.0.0.0:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--log-level=error',
      '--logger=zap',
    ])
    .withLabels({ [OWNER_LABEL]: owner })
    .withExposedPorts(2379)
    .withStartupTimeout(60_000)
    .withWaitStrategy(Wait.forHttp('/health', 2379).forResponsePredicate(body => body.includes('"health":"true"')));
  publishOnLoopback(generic, 2379);
  const container = await generic.start();
  const id = container.getId();
  const removeNow = (): void => {
    // Synchronous: 'exit' handlers cannot wait.
    spawnSync('docker', ['rm', '-f', '-v', id], { stdio: 'ignore' }); // else the next run removes it as an orphan
  };
  process.once('exit', removeNow);
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(2379)}`; // the address the wait strategy probed
  return {
    mode: 'testcontainers',
    endpoints: [endpoint],
    cluster: undefined,
    container: id,
    stop: async () => {
      process.off('exit', removeNow);
      await container.stop({ remove: true, removeVolumes: true, timeout: 0 });
    },
  };
}

/**
 * testcontainers publishes exposed ports on every interface; the tests publish on 127.0.0.1 only.
 * It has no option for that, so this sets the binding in its create options, after checking they
 * have the shape it expects (testcontainers 11).
 */
function publishOnLoopback(container: object, port: number): void {
  const hostConfig = (container as { hostConfig?: { PortBindings?: Record<string, { HostIp?: string; HostPort: string }[]> } }).hostConfig;
  const bindings = hostConfig?.PortBindings?.[`${port}/tcp`];
  if (!bindings || bindings.length !== 1) {
    throw new Error(`testcontainers' create options changed shape (no PortBindings for ${port}/tcp): update publishOnLoopback() in spec/support/target.ts`);
  }
  bindings[0]!.HostIp = LOOPBACK;
}
