// Fencing a write to a store outside etcd with the lock's fencing token.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx examples/fencing.ts
//
// A lease-based lock cannot stop a process that was paused (a long GC, SIGSTOP, a VM migration)
// from acting after its lease expired and someone else took the lock. The fencing token closes the
// gap: it is the create revision of the holder's key, strictly greater for every later holder.
// Send it with every write, and have the store refuse a token smaller than the largest it has seen.
//
// The story, in one process:
//   1. worker A takes the lock (token tA) and saves a report to the store: accepted;
//   2. A stalls before its second write. While it stalls it sends no keepalive, so etcd expires
//      its lease (here we revoke the lease, which is what etcd does when it expires, without
//      waiting out the TTL);
//   3. worker B takes the lock (token tB > tA) and saves its report: accepted;
//   4. A wakes up, unaware, and writes with tA: the store refuses it (409), and B's data stands.
// Exits 0 when the stale write was refused, 1 otherwise.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), LOCK (the lock's
// name, default examples/fencing); for TLS and etcd users, etcdctl's ETCDCTL_* variables.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { Etcd3 } from 'etcd3';
import { Mutex, Session, connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions } from 'etcd-concurrency';

const lockName = process.env.LOCK ?? 'examples/fencing';

/**
 * The external resource: a tiny object store over HTTP (think S3, a database, a payment API).
 * `PUT /objects/<name>` with an `X-Fencing-Token` header. It remembers the largest token it has
 * accepted and refuses any smaller one with 409 Conflict. Equal tokens pass: the same holder may
 * write many times.
 */
function startStore(): Promise<{ server: Server; url: string; objects: Map<string, string> }> {
  const objects = new Map<string, string>();
  let highest = 0n;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const header = req.headers['x-fencing-token'];
      if (req.method !== 'PUT' || typeof header !== 'string' || !/^\d+$/.test(header)) {
        res.writeHead(400).end('PUT with an X-Fencing-Token header\n');
        return;
      }
      const token = BigInt(header);
      if (token < highest) {
        res.writeHead(409).end(`stale fencing token ${token}: already accepted ${highest}\n`);
        return;
      }
      highest = token;
      objects.set(req.url ?? '/', body);
      res.writeHead(200).end(`stored with token ${token}\n`);
    });
  });
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => {
    const { port } = server.address() as { port: number };
    return { server, url: `http://127.0.0.1:${port}`, objects };
  });
}

/** A write to the store, carrying the token of the lock it was made under. */
async function save(storeUrl: string, name: string, content: string, token: bigint): Promise<{ status: number; text: string }> {
  const res = await fetch(`${storeUrl}/objects/${name}`, {
    method: 'PUT',
    headers: { 'X-Fencing-Token': token.toString() },
    body: content,
  });
  return { status: res.status, text: (await res.text()).trim() };
}

const store = await startStore();
const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));
const log = (who: string, message: string): void => console.log(`${who.padEnd(9)} ${message}`);

// 1. A takes the lock and writes.
const sessionA = await Session.create(client, { ttl: 5 });
const lockA = await new Mutex(sessionA, lockName).lock({ timeout: 10_000 });
log('worker A', `holds "${lockName}" with fencing token ${lockA.fencingToken}`);
const first = await save(store.url, 'report', 'A: draft 1', lockA.fencingToken);
log('worker A', `writes draft 1 → ${first.status} ${first.text}`);

// 2. A stalls. Its lease expires in etcd (simulated: revoked), so its key is deleted and the lock
//    passes on. A's own code is stuck between its check and its write: it does not look.
log('worker A', 'stalls (a long GC pause); its lease expires in etcd');
await client.leaseClient.leaseRevoke({ ID: sessionA.lease });

// 3. B takes the lock and writes.
const sessionB = await Session.create(client, { ttl: 5 });
const lockB = await new Mutex(sessionB, lockName).lock({ timeout: 10_000 });
log('worker B', `holds "${lockName}" with fencing token ${lockB.fencingToken} (> ${lockA.fencingToken})`);
const second = await save(store.url, 'report', 'B: final', lockB.fencingToken);
log('worker B', `writes its report → ${second.status} ${second.text}`);

// 4. A wakes up and carries on with the write it was about to make, with its old token.
log('worker A', 'wakes up and writes draft 2 with its old token, unaware it lost the lock');
const stale = await save(store.url, 'report', 'A: draft 2', lockA.fencingToken);
log('worker A', `→ ${stale.status} ${stale.text}`);
// A's lock.signal tells code that checks it: it aborts once the loss reaches A.
if (!lockA.signal.aborted) await once(lockA.signal, 'abort');
log('worker A', `lock.signal: ${(lockA.signal.reason as Error).message}`);

const content = store.objects.get('/objects/report');
log('store', `report = ${JSON.stringify(content)}`);
const ok = stale.status === 409 && content === 'B: final';
console.log(ok ? 'OK: the stale write was fenced off' : 'FAILED: the stale write got through');

await lockB.unlock();
await sessionB.close();
await sessionA.close();
client.close();
store.server.close();
process.exitCode = ok ? 0 : 1;
