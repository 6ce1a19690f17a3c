// Inventory without overselling: several buyers, each with its own etcd session (as if each were
// its own process or pod), buy from a limited stock kept in etcd.
//
//   ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx examples/inventory.ts
//
// Each purchase is read-check-write under one fair lock: the buyer reads the stock, refuses if too
// little is left, and writes the new stock and its order in one transaction guarded by
// lock.ifOwner(), so the write commits only while the buyer still holds the lock. The order is
// recorded under the lock's fencing token. At the end the program reads etcd back and checks that
// no unit was sold twice; it exits 1 if one was.
//
// Environment: ETCD_ENDPOINTS (comma-separated, default http://127.0.0.1:2379), INVENTORY (key
// prefix, default examples/inventory), STOCK (units, default 10), BUYERS (default 5), WANT (units
// each buyer tries to buy, one at a time, default 3); for TLS and etcd users, etcdctl's
// ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_USER, ETCDCTL_PASSWORD.
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { Mutex, Session, connectionSettingsFromEnv, etcdClientOptions, resilientClientOptions } from 'etcd-concurrency';

const prefix = process.env.INVENTORY ?? 'examples/inventory';
const initialStock = Number(process.env.STOCK ?? 10);
const buyers = Number(process.env.BUYERS ?? 5);
const want = Number(process.env.WANT ?? 3);

const stockKey = `${prefix}/stock`;
const ordersPrefix = `${prefix}/orders/`;
// The lock owns the keys directly under `${prefix}/lock/`; the stock and orders live outside it.
const lockName = `${prefix}/lock`;

const client = new Etcd3(resilientClientOptions(etcdClientOptions(connectionSettingsFromEnv())));

/**
 * Buys one unit for `buyer`, under the lock. Returns what happened.
 * Everything between lock() and unlock() sees a stock no one else can change meanwhile.
 */
async function buyOne(mutex: Mutex, buyer: string): Promise<'bought' | 'sold out'> {
  return mutex.withLock(
    async lock => {
      const stock = Number(await client.get(stockKey).string());
      if (stock < 1) return 'sold out';
      await sleep(10 + Math.random() * 20); // check the payment: other buyers queue meanwhile
      const { succeeded } = await lock
        .ifOwner()
        .then(
          client.put(stockKey).value(String(stock - 1)),
          client.put(`${ordersPrefix}${lock.fencingToken}`).value(JSON.stringify({ buyer, unit: initialStock - stock + 1 })),
        )
        .commit();
      // Only if the lock was lost mid-purchase (lease expired, key deleted): nothing was written.
      if (!succeeded) throw lock.signal.reason ?? new Error(`${buyer} lost the lock`);
      console.log(`${buyer} bought unit ${initialStock - stock + 1} (stock ${stock} → ${stock - 1}, fencing token ${lock.fencingToken})`);
      return 'bought';
    },
    { timeout: 30_000 },
  );
}

/** One buyer: its own session (one lease), trying to buy `want` units one by one. */
async function buyer(index: number): Promise<number> {
  const name = `buyer-${index}`;
  await using session = await Session.create(client, { ttl: 10 });
  const mutex = new Mutex(session, lockName);
  let bought = 0;
  for (let i = 0; i < want; i++) {
    if ((await buyOne(mutex, name)) === 'sold out') {
      console.log(`${name}: sold out, leaving with ${bought}`);
      break;
    }
    bought++;
  }
  return bought;
}

await client.delete().prefix(`${prefix}/`);
await client.put(stockKey).value(String(initialStock));
console.log(`${buyers} buyers want ${want} units each; ${initialStock} in stock`);

const bought = await Promise.all(Array.from({ length: buyers }, (_, i) => buyer(i + 1)));

// Check against etcd itself, not against what the buyers think they did.
const stock = Number(await client.get(stockKey).string());
const orders = await client.getAll().prefix(ordersPrefix).strings();
const units = new Set(Object.values(orders).map(o => (JSON.parse(o) as { unit: number }).unit));
const sold = bought.reduce((a, b) => a + b, 0);
const ok = stock >= 0 && sold === Object.keys(orders).length && units.size === sold && sold + stock === initialStock;
console.log(`sold ${sold} of ${initialStock}, stock left ${stock}, ${Object.keys(orders).length} orders, ${units.size} distinct units`);
console.log(ok ? 'OK: no unit was sold twice' : 'OVERSOLD: the stock and the orders disagree');

await client.delete().prefix(`${prefix}/`);
client.close();
process.exitCode = ok ? 0 : 1;
