// Prometheus metrics of locks and an election: serves /metrics while a few workers contend for one
// lock and a leader elector runs.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx examples/metrics.ts
//   curl -s http://127.0.0.1:9464/metrics | grep -E '^(etcd_concurrency|leader_election)'
//
// The library only talks to @opentelemetry/api; this program registers the SDK
// (@opentelemetry/sdk-metrics) with the Prometheus exporter (@opentelemetry/exporter-prometheus),
// and a view that exports the leader gauge as Kubernetes' leader_election_master_status{name}, so
// dashboards and alerts written for client-go (`sum(leader_election_master_status) == 0`) work.
// Each worker loops: lock (giving up after TIMEOUT_MS), work HOLD_MS, unlock; on a lost lease it
// starts a new session. Each step is printed, one line each. Ctrl-C (SIGINT) or SIGTERM stops it.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), LOCK (default
// examples/metrics/job), ELECTION (default examples/metrics/leader), WORKERS (default 3), HOLD_MS
// (default 200), TIMEOUT_MS (default 1000), HOST (default 127.0.0.1), PORT (default 9464; 0 picks a
// free one); for TLS and etcd users, etcdctl's ETCDCTL_* variables.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Etcd3 } from 'etcd3';
import {
  LeaderElector,
  LockTimeoutError,
  Mutex,
  Session,
  connectionSettingsFromEnv,
  etcdClientOptions,
  kubernetesLeaderView,
  resilientClientOptions,
} from 'etcd-concurrency';

const lockName = process.env.LOCK ?? 'examples/metrics/job';
const electionName = process.env.ELECTION ?? 'examples/metrics/leader';
const workers = Number(process.env.WORKERS ?? 3);
const holdMs = Number(process.env.HOLD_MS ?? 200);
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 1000);

// The SDK: a Prometheus reader (no server of its own: ours below serves its handler).
const exporter = new PrometheusExporter({ preventServerStart: true });
const provider = new MeterProvider({ readers: [exporter], views: [kubernetesLeaderView] });
metrics.setGlobalMeterProvider(provider);

const server = createServer((req, res) => {
  if (req.url === '/metrics') return exporter.getMetricsRequestHandler(req, res);
  res.statusCode = 404;
  res.end('see /metrics\n');
});
server.listen(Number(process.env.PORT ?? 9464), process.env.HOST ?? '127.0.0.1');
await once(server, 'listening');
const address = server.address() as { address: string; port: number };
console.log(`metrics on http://${address.address}:${address.port}/metrics`);

const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));
const stopping = new AbortController();

/** One worker: its own session (as if it were its own process), locking again and again. */
async function worker(id: number): Promise<void> {
  const say = (message: string): void => console.log(`worker ${id} ${message}`);
  while (!stopping.signal.aborted) {
    const session = await Session.create(client, { ttl: 5, signal: stopping.signal }).catch(() => undefined);
    if (!session) continue;
    session.signal.addEventListener('abort', () => {
      if (!stopping.signal.aborted) say(`session lost: ${(session.signal.reason as Error).message}`);
    });
    const mutex = new Mutex(session, lockName);
    while (!session.ended && !stopping.signal.aborted) {
      try {
        const lock = await mutex.lock({ timeout: timeoutMs, signal: stopping.signal });
        say(`acquired ${lockName} lease ${lock.leaseId} token ${lock.fencingToken}`);
        const working = AbortSignal.any([lock.signal, stopping.signal]);
        await sleep(holdMs, undefined, { signal: working }).catch(() => undefined);
        if (lock.signal.aborted) say(`lost the lock: ${(lock.signal.reason as Error).message}`);
        else say(`released token ${lock.fencingToken}`);
        await lock.unlock().catch(() => undefined);
      } catch (error) {
        if (error instanceof LockTimeoutError) say(`timed out after ${timeoutMs} ms`);
        else if (!session.ended && !stopping.signal.aborted) say(`error: ${(error as Error).message}`);
      }
    }
    await session.close().catch(() => undefined);
  }
}

const elector = new LeaderElector({
  client,
  name: electionName,
  value: `metrics-example:${process.pid}`,
  ttl: 5,
  onStartedLeading: signal => {
    console.log(`elector leading ${electionName}`);
    return once(signal, 'abort').then(() => undefined);
  },
  onError: error => console.error(`elector: ${error.message}`),
});
await elector.start();
const running = Array.from({ length: workers }, (_, i) => worker(i + 1));

let stopped = false;
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  stopping.abort(new Error('stopping'));
  await Promise.allSettled(running);
  await elector.stop();
  await provider.shutdown();
  server.close();
  client.close();
  console.log('stopped');
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
