// Capping concurrent jobs across processes: several worker processes (as if on several hosts)
// share one Semaphore, so at most PERMITS jobs run at once, whichever process they are in, and
// jobs start in the order they asked.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx examples/semaphore-jobs.ts
//
// The program starts WORKERS copies of itself. Each runs JOBS jobs, one after the other, each
// under a permit: the job marks itself running in etcd (a key under `${PREFIX}/running/`, written
// through permit.ifOwner(), so only while the permit is still ours), counts the running jobs, does
// its work, and unmarks itself. The parent collects the counts and exits 1 if more than PERMITS
// jobs ever ran at once.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), PREFIX (key
// prefix, default examples/jobs), PERMITS (default 2), WORKERS (default 3), JOBS (per worker,
// default 3); for TLS and etcd users, etcdctl's ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY,
// ETCDCTL_USER, ETCDCTL_PASSWORD.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { Semaphore, Session, connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions } from 'etcd-concurrency';

const prefix = process.env.PREFIX ?? 'examples/jobs';
const permits = Number(process.env.PERMITS ?? 2);
const workers = Number(process.env.WORKERS ?? 3);
const jobs = Number(process.env.JOBS ?? 3);
const worker = process.env.JOBS_WORKER;

/** One worker process: its own session, JOBS jobs under the shared semaphore. */
async function runWorker(id: string): Promise<void> {
  const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));
  const session = await Session.create(client, { ttl: 10 });
  const semaphore = new Semaphore(session, `${prefix}/slots`, { permits });
  for (let job = 1; job <= jobs; job++) {
    await semaphore.withPermit(
      async permit => {
        const mark = `${prefix}/running/${permit.fencingToken}`;
        await permit.ifOwner().then(client.put(mark).lease(session.lease).value(id)).commit();
        const running = await client.getAll().prefix(`${prefix}/running/`).count();
        console.log(`worker ${id} job ${job} running (${running} of ${permits} permits in use, fencing token ${permit.fencingToken})`);
        await sleep(30 + Math.random() * 50, undefined, { signal: permit.signal }); // the job's work
        await client.delete().key(mark);
      },
      { timeout: 60_000 },
    );
  }
  await session.close();
  client.close();
}

/** The parent: starts the workers, relays their output, checks the cap. */
async function main(): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: workers }, (_, i) =>
    spawn(process.execPath, [...process.execArgv, self], { env: { ...process.env, JOBS_WORKER: String(i + 1) }, stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  let most = 0;
  let ran = 0;
  for (const child of children) {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      for (const line of text.split('\n').filter(Boolean)) {
        console.log(line);
        const running = /\((\d+) of/.exec(line);
        if (running) {
          ran++;
          most = Math.max(most, Number(running[1]));
        }
      }
    });
  }
  const codes = await Promise.all(children.map(async child => ((await once(child, 'exit')) as [number | null])[0]));
  if (codes.some(code => code !== 0)) return 1;
  console.log(`${ran} jobs ran, at most ${most} at once`);
  if (ran !== workers * jobs || most > permits) {
    console.log(`FAILED: expected ${workers * jobs} jobs, never more than ${permits} at once`);
    return 1;
  }
  console.log(`OK: never more than ${permits} jobs at once`);
  return 0;
}

if (worker) await runWorker(worker);
else process.exitCode = await main();
