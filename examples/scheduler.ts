// A scheduler that runs its periodic job on exactly one of its replicas.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx examples/scheduler.ts   # run it in three terminals
//
// Only the leader runs the job. Ctrl-C or SIGTERM on the leader hands over at once (stop()
// resigns); kill -9 hands over within the TTL. Each run is written through leadership.ifLeader(),
// so a replica that lost leadership can never record a run.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), ELECTION (the
// election's name, default examples/scheduler), TTL (seconds, default 10), INTERVAL_MS (between
// runs, default 5000), HEALTH_PORT (serve GET /healthz from elector.healthy() when set); for TLS
// and etcd users, etcdctl's ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_USER, ETCDCTL_PASSWORD.
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { LeaderElector, connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions, type Leadership } from 'etcd-concurrency';

const name = process.env.ELECTION ?? 'examples/scheduler';
const ttl = Number(process.env.TTL ?? 10);
const intervalMs = Number(process.env.INTERVAL_MS ?? 5000);
const me = `${hostname()}:${process.pid}`;
// Not under `${name}/`: every direct child of that prefix is a candidate.
const runsKey = `${name}-runs`;

const log = (message: string): void => console.log(`[${me}] ${message}`);
const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));

/** The periodic job: counts its runs in etcd, a write that commits only while we lead. */
async function runJob(leadership: Leadership): Promise<void> {
  const runs = Number((await client.get(runsKey).string()) ?? '0') + 1;
  const { succeeded } = await leadership
    .ifLeader()
    .then(client.put(runsKey).value(String(runs)))
    .commit();
  if (succeeded) log(`job ran: run #${runs} with fencing token ${leadership.fencingToken}`);
  else log('job skipped: no longer the leader');
}

const elector = new LeaderElector({
  client,
  name,
  value: me,
  ttl,
  onStartedLeading: async (signal, leadership) => {
    log(`leading (fencing token ${leadership.fencingToken})`);
    while (!signal.aborted) {
      await runJob(leadership).catch((error: unknown) => log(`job failed: ${String(error)}`));
      await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
    }
  },
  onStoppedLeading: () => log('stopped leading'),
  onNewLeader: leader => log(leader ? `leader is ${leader.value}` : 'no leader'),
  onError: error => log(`recovering from: ${error.message}`),
});

const health = process.env.HEALTH_PORT
  ? createServer((req, res) => {
      const ok = req.url === '/healthz' && elector.healthy();
      res.writeHead(ok ? 200 : 503).end(ok ? 'ok\n' : 'unhealthy\n');
    }).listen(Number(process.env.HEALTH_PORT))
  : undefined;

log(`campaigning in "${name}" (TTL ${ttl} s)`);
await elector.start();

const shutdown = (signal: string): void => {
  log(`${signal}: stopping`);
  void elector.stop().finally(() => {
    health?.close();
    client.close();
    log('stopped');
  });
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
