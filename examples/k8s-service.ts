// A Kubernetes-style active/passive service: every replica runs, only the elected leader is ready.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 PORT=8081 npx tsx examples/k8s-service.ts   # and PORT=8082, 8083…
//
// Probes, as a Deployment would wire them:
//   GET /healthz  liveness:  200 unless this replica believes it leads while its lease keepalive is
//                 overdue (it may have lost etcd and not know yet): 503 then, so the kubelet
//                 restarts it.
//   GET /readyz   readiness: 200 only while this replica is the leader, so a Service sends traffic
//                 to the leader alone; 503 on followers.
//   GET /         who leads, as JSON: { me, leader, leading, fencingToken }.
// On SIGTERM (what Kubernetes sends before it stops a pod) the replica resigns at once, so a
// follower takes over in about one round trip instead of after the lease TTL, then closes the
// server and exits 0.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), ELECTION (default
// examples/k8s-service), PORT (default 8080; 0 picks a free one), HOST (default 127.0.0.1; 0.0.0.0
// in a container), POD_NAME (this replica's identity, default <hostname>:<pid>), TTL (seconds,
// default 10); for TLS and etcd users, etcdctl's ETCDCTL_* variables.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { Etcd3 } from 'etcd3';
import { LeaderElector, connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions } from 'etcd-concurrency';

const election = process.env.ELECTION ?? 'examples/k8s-service';
const me = process.env.POD_NAME ?? `${hostname()}:${process.pid}`;
const ttl = Number(process.env.TTL ?? 10);
const log = (message: string): void => console.log(`[${me}] ${message}`);

const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));
let leader: string | undefined;

const elector = new LeaderElector({
  client,
  name: election,
  value: me,
  ttl,
  onStartedLeading: async (signal, leadership) => {
    log(`leading (fencing token ${leadership.fencingToken}): /readyz is 200`);
    // The leader's work would run here, passing `signal` down and guarding its writes with
    // leadership.ifLeader() or leadership.fencingToken. This service only serves while it leads.
    await once(signal, 'abort');
  },
  onStoppedLeading: () => log('stopped leading: /readyz is 503'),
  onNewLeader: info => {
    leader = info?.value;
    log(leader === undefined ? 'no leader' : `leader is ${leader}`);
  },
  onError: error => log(`recovering from: ${error.message}`),
});

const server = createServer((req, res) => {
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  };
  switch (req.url) {
    case '/healthz':
      return elector.healthy() ? reply(200, { status: 'ok' }) : reply(503, { status: 'keepalive overdue' });
    case '/readyz':
      return elector.isLeader ? reply(200, { status: 'leader' }) : reply(503, { status: 'follower', leader });
    case '/':
      return reply(200, { me, leader, leading: elector.isLeader, fencingToken: elector.leadership?.fencingToken.toString() });
    default:
      return reply(404, { error: 'not found' });
  }
});
server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
await once(server, 'listening');
const { address, port } = server.address() as { address: string; port: number };
log(`listening on http://${address}:${port}`);

await elector.start();
log(`campaigning in "${election}" (TTL ${ttl} s)`);

let stopping = false;
const shutdown = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log(`${signal}: resigning`);
  await elector.stop(); // resigns if leading: a follower takes over now, not after the TTL
  server.close();
  client.close();
  log('stopped');
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
