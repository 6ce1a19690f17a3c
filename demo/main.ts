// `npm run demo`: the product at work, in under a minute.
//
//   1. Four shop processes sell 20 units through one fair lock. Every write is guarded by
//      lock.ifOwner() and tagged with the lock's fencing token. One shop is frozen (SIGSTOP) while
//      it holds the lock; its lease expires, the queue moves on, and when it wakes up its write is
//      refused. The summary checks etcd: no unit sold twice, and service in arrival (FIFO) order.
//   2. Three scheduler replicas elect a leader. The demo kills the leader with kill -9 and times the
//      failover; then it stops the new leader with SIGTERM (it resigns) and times that handover.
//
// Without ETCD_ENDPOINTS it starts a throwaway 3-member etcd cluster of the local `etcd` binary
// (ETCD_BIN or PATH; installed with apt-get when missing and we are root on Debian) in a temp dir,
// and removes it after. With ETCD_ENDPOINTS it uses that cluster and deletes its own keys after.
// Whatever ends the demo (Ctrl-C, SIGTERM, SIGHUP, SIGKILL, its tsx parent killed), no process and
// no directory outlives it: harness/reaper.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { ensureEtcdInstalled, nodeTooOld } from '../harness/install.js';
import { reapOnExit } from '../harness/reaper.js';
import { resilientClientOptions } from 'etcd-concurrency';

const STOCK = 20;
const SHOPS = 4;
const REPLICAS = 3;
/** Lease TTL of every demo process, seconds: the failover time after a crash or a freeze. */
const TTL = 2;
/** No step of the demo takes longer than this; if one does, the demo fails instead of hanging. */
const STEP_TIMEOUT_MS = 30_000;

const root = fileURLToPath(new URL('..', import.meta.url));
const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
const started = performance.now();

// ---------------------------------------------------------------------------------------------
// Output

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint =
  (code: number) =>
  (text: string | number): string =>
    color ? `\x1b[${code}m${text}\x1b[0m` : String(text);
const bold = paint(1);
const dim = paint(2);
const red = paint(31);
const green = paint(32);
const yellow = paint(33);
const cyan = paint(36);
const say = (text = ''): void => void process.stdout.write(`${text}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const bar = (done: number, total: number): string => {
  const width = 20;
  const full = Math.round((done / total) * width);
  return `${green('█'.repeat(full))}${dim('░'.repeat(width - full))}`;
};

// ---------------------------------------------------------------------------------------------
// Worker processes (demo/worker.ts), reporting JSON lines

interface WorkerEvent {
  readonly event: string;
  readonly id: string;
  readonly token?: string;
  readonly stock?: number;
  readonly stockBefore?: number;
  readonly waitedMs?: number;
  readonly run?: number;
  readonly message?: string;
}

const workers = new Set<Worker>();
const seen: { worker: Worker; event: WorkerEvent }[] = [];
const waiters = new Set<() => void>();

class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private stderr = '';

  constructor(
    readonly id: string,
    role: 'shop' | 'scheduler',
    endpoints: string[],
    prefix: string,
    extra: string[] = [],
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', workerPath, role, id, prefix, ...extra], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_ENDPOINTS: endpoints.join(','), DEMO_TTL: String(TTL) },
    });
    workers.add(this);
    reapOnExit(this.child, workerPath); // killed even if the demo is (a frozen shop too)
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      workers.delete(this);
      if (code !== 0 && signal !== 'SIGKILL' && !interrupted) say(red(`  ${id} exited with ${signal ?? code}: ${this.stderr.trim()}`));
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', line => {
      let event: WorkerEvent;
      try {
        event = JSON.parse(line) as WorkerEvent;
      } catch {
        return;
      }
      seen.push({ worker: this, event });
      for (const wake of [...waiters]) wake();
    });
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/**
 * Resolves with the first event from index `from` on that matches; every event passes through
 * `onEvent` first, in order, so progress is printed live while the demo waits.
 */
let printed = 0;
let onEvent: (worker: Worker, event: WorkerEvent) => void = () => undefined;
function waitFor(
  what: string,
  match: (event: WorkerEvent, worker: Worker) => boolean,
  from = 0,
): Promise<{ worker: Worker; event: WorkerEvent; index: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no ${what} within ${STEP_TIMEOUT_MS / 1000} s`));
    }, STEP_TIMEOUT_MS);
    const check = (): void => {
      for (; printed < seen.length; printed++) onEvent(seen[printed]!.worker, seen[printed]!.event);
      for (let i = from; i < seen.length; i++) {
        const { worker, event } = seen[i]!;
        if (match(event, worker)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve({ worker, event, index: i });
          return;
        }
      }
    };
    waiters.add(check);
    check();
  });
}

// ---------------------------------------------------------------------------------------------
// etcd

let cluster: Cluster | undefined;
let client: Etcd3 | undefined;
const prefix = `demo/${randomBytes(3).toString('hex')}`;

async function connect(): Promise<string[]> {
  const external = process.env.ETCD_ENDPOINTS?.trim();
  if (external) {
    const endpoints = external.split(',').map(s => s.trim());
    say(`${cyan('●')} etcd: using ETCD_ENDPOINTS=${endpoints.join(',')}`);
    return endpoints;
  }
  const missing = ensureEtcdInstalled(line => say(dim(line)));
  if (missing) {
    say(red(missing));
    process.exit(1);
  }
  const t = performance.now();
  cluster = await startCluster();
  say(`${cyan('●')} etcd: started a local 3-member cluster in ${seconds(performance.now() - t)} ${dim(`(${cluster.endpoints.join(', ')}; data in a temp dir)`)}`);
  return cluster.endpoints;
}

/** Kills whatever is still running, stops etcd and removes its data (or our keys, on an external cluster). */
async function cleanUp(): Promise<void> {
  for (const worker of [...workers]) {
    worker.kill('SIGKILL');
    await worker.exited;
  }
  if (client) {
    if (!cluster) await client.delete().prefix(`${prefix}/`).catch(() => undefined);
    client.close();
  }
  await cluster?.stop();
}

// ---------------------------------------------------------------------------------------------
// 1. Inventory

async function inventory(endpoints: string[]): Promise<boolean> {
  const c = client!;
  const lockName = `${prefix}/inventory`;
  say();
  say(bold(`1. ${SHOPS} shops sell ${STOCK} units through one fair lock`));
  say(dim(`   Each shop is its own process with its own etcd session (lease TTL ${TTL} s). To sell, it takes the lock`));
  say(dim(`   "${lockName}", reads the stock, and writes the new stock and an order in one transaction`));
  say(dim('   guarded by lock.ifOwner(), tagged with its fencing token. shop-4 will be frozen while it holds the lock.'));
  say();
  await c.put(`${prefix}/stock`).value(String(STOCK));

  const shops = Array.from({ length: SHOPS }, (_, i) => new Worker(`shop-${i + 1}`, 'shop', endpoints, prefix, i === SHOPS - 1 ? ['--frozen'] : []));
  const frozenShop = shops[SHOPS - 1]!;
  await Promise.all(shops.map(shop => waitFor(`${shop.id} ready`, (e, w) => w === shop && e.event === 'ready')));

  let sold = 0;
  let frozenAt: number | undefined;
  let soldWhenFrozen = 0;
  let frozenStock = 0;
  let frozenToken = '';
  onEvent = (worker, e) => {
    const who = worker === frozenShop ? yellow(worker.id) : cyan(worker.id);
    if (e.event === 'sold') {
      sold++;
      let note = `waited ${String(e.waitedMs).padStart(4)} ms`;
      if (frozenAt !== undefined && sold === soldWhenFrozen + 1) {
        note += yellow(` ← etcd expired shop-4's lease ${seconds(performance.now() - frozenAt)} after the freeze; the queue moved on`);
      }
      say(`   ${who}  token ${String(e.token).padStart(4)}  sold unit ${String(STOCK - e.stockBefore! + 1).padStart(2)}  ${bar(sold, STOCK)} ${String(STOCK - sold).padStart(2)} left   ${dim(note)}`);
      if (sold === 3) frozenShop.send('go'); // shop-4 joins the queue once the others are going
      if (frozenAt !== undefined && sold === soldWhenFrozen + 3) {
        frozenShop.kill('SIGCONT');
        frozenShop.send('write');
        say(yellow(`   shop-4  wakes up (SIGCONT) and, as if nothing happened, writes stock ${frozenStock} → ${frozenStock - 1} with token ${frozenToken}…`));
      }
    } else if (e.event === 'holding') {
      frozenShop.kill('SIGSTOP');
      frozenAt = performance.now();
      soldWhenFrozen = sold;
      frozenStock = e.stock!;
      frozenToken = e.token!;
      say(yellow(`   shop-4  holds the lock (token ${e.token}), has read stock = ${e.stock}, and is frozen with SIGSTOP (think: a long GC pause)`));
      say(dim(`           the other shops wait their turn; no keepalive goes out for shop-4's lease (TTL ${TTL} s)`));
    } else if (e.event === 'rejected') {
      say(
        `   ${yellow('shop-4')}  ${red('write REFUSED by etcd')}: ifOwner() failed, its key expired with its lease. ` +
          dim(`Unguarded, it would have set the stock back up to ${e.stock! - 1}: ${sold - soldWhenFrozen - 1} units sold twice.`),
      );
    } else if (e.event === 'sold-out') {
      say(dim(`   ${worker.id}  finds the stock empty (token ${e.token}) and stops`));
    }
  };
  for (const shop of shops.slice(0, SHOPS - 1)) shop.send('go');
  await Promise.all(shops.map(shop => waitFor(`${shop.id} to finish`, (e, w) => w === shop && ['sold-out', 'rejected'].includes(e.event))));
  await Promise.all(shops.map(shop => shop.exited));

  // The proof, read back from etcd rather than from what the shops said.
  const stock = Number(await c.get(`${prefix}/stock`).string());
  const orders = (await c.getAll().prefix(`${prefix}/orders/`).exec()).kvs
    .map(kv => ({ ...(JSON.parse(kv.value.toString()) as { shop: string; stockBefore: number }), token: BigInt(kv.key.toString().split('/').pop()!), revision: BigInt(kv.mod_revision) }))
    .sort((a, b) => (a.revision < b.revision ? -1 : 1));
  const units = new Set(orders.map(o => o.stockBefore));
  const noOversell = stock === 0 && orders.length === STOCK && units.size === STOCK;
  const fifo = orders.every((o, i) => i === 0 || o.token > orders[i - 1]!.token);
  const rejected = seen.some(({ event }) => event.event === 'rejected');
  const lockKeysLeft = (await c.getAll().prefix(`${lockName}/`).keys()).length;
  const mark = (ok: boolean): string => (ok ? green('✓') : red('✗'));
  say();
  say(bold('   Summary, read back from etcd'));
  say(`   ${mark(noOversell)} no overselling: ${orders.length} orders for ${STOCK} units, each unit sold once, stock now ${stock}`);
  say(`   ${mark(rejected)} the frozen holder's stale write was refused: a lease-based lock alone cannot stop a paused`);
  say('     process from acting late, but a write guarded by ifOwner() (or by the fencing token, in any other store) can');
  say(`   ${mark(fifo)} FIFO: fencing token = the create revision of the shop's place in the queue; in the order the sales`);
  say(`     committed, the tokens strictly increase (${orders.slice(0, 4).map(o => o.token).join(' < ')} < …), so nobody was overtaken`);
  say(dim(`     service order: ${orders.map(o => o.shop.replace('shop-', '')).join(' ')}  (a shop that sold goes to the back of the line)`));
  say(`   ${mark(lockKeysLeft === 0)} lock released: ${lockKeysLeft} keys left under "${lockName}/"`);
  return noOversell && fifo && rejected && lockKeysLeft === 0;
}

// ---------------------------------------------------------------------------------------------
// 2. Leader election

async function election(endpoints: string[]): Promise<boolean> {
  const c = client!;
  const electionName = `${prefix}/scheduler`;
  say();
  say(bold(`2. ${REPLICAS} scheduler replicas elect a leader; the leader is killed with kill -9`));
  say(dim(`   Each replica runs a LeaderElector (lease TTL ${TTL} s) on "${electionName}". Only the leader runs the job,`));
  say(dim('   every run written through leadership.ifLeader().'));
  say();
  const from = seen.length;
  const killed = new Set<Worker>();
  onEvent = (worker, e) => {
    if (killed.has(worker)) return; // its last lines were written before it died
    if (e.event === 'leading') say(`   ${green(worker.id)}  is the leader now ${dim(`(fencing token ${e.token})`)}`);
    else if (e.event === 'ran') say(`   ${cyan(worker.id)}  ran the job (run ${e.run})`);
    else if (e.event === 'resigned') say(dim(`   ${worker.id}  resigned and exited`));
  };
  const replicas = Array.from({ length: REPLICAS }, (_, i) => new Worker(`replica-${i + 1}`, 'scheduler', endpoints, prefix));
  await Promise.all(replicas.map(replica => waitFor(`${replica.id} ready`, (e, w) => w === replica && e.event === 'ready', from)));
  const first = await waitFor('a leader', e => e.event === 'leading', from);
  // Every replica is a candidate (its key is in etcd) before the leader dies.
  await waitForKeyCount(c, `${electionName}/`, REPLICAS);
  say(dim(`   ${replicas.filter(r => r !== first.worker).map(r => r.id).join(' and ')} wait in line as candidates`));
  await waitFor('three runs by the leader', (e, w) => w === first.worker && e.event === 'ran' && e.run === 3, from);

  const killedAt = performance.now();
  killed.add(first.worker);
  first.worker.kill('SIGKILL');
  say(red(`   kill -9 ${first.worker.id}`) + dim(' (no resign, no revoke: etcd must notice by itself when its lease expires)'));
  const second = await waitFor('a new leader', (e, w) => w !== first.worker && e.event === 'leading', first.index + 1);
  const failover = performance.now() - killedAt;
  say(`   ${green('→')} failover in ${bold(seconds(failover))}: ${second.worker.id} took over ${dim(`(the dead leader's lease had a TTL of ${TTL} s)`)}`);
  await waitFor('a run by the new leader', (e, w) => w === second.worker && e.event === 'ran', second.index + 1);

  const stoppedAt = performance.now();
  second.worker.kill('SIGTERM');
  say(yellow(`   SIGTERM ${second.worker.id}`) + dim(' (a rolling update: it resigns, deleting its key)'));
  const third = await waitFor('a third leader', (e, w) => w !== first.worker && w !== second.worker && e.event === 'leading', second.index + 1);
  const handover = performance.now() - stoppedAt;
  say(`   ${green('→')} handover in ${bold(seconds(handover))}: ${third.worker.id} took over ${dim('(no TTL to wait for: the resignation woke the next candidate)')}`);
  await waitFor('a run by the third leader', (e, w) => w === third.worker && e.event === 'ran', third.index + 1);
  third.worker.kill('SIGTERM');
  await Promise.all(replicas.map(r => r.exited));

  const left = (await c.getAll().prefix(`${electionName}/`).keys()).length;
  const mark = (ok: boolean): string => (ok ? green('✓') : red('✗'));
  const failoverOk = failover < (TTL + 2) * 1000;
  say();
  say(bold('   Summary'));
  say(`   ${mark(failoverOk)} after kill -9, a new leader within ${seconds(failover)} (bounded by the lease TTL, ${TTL} s, plus etcd's expiry check)`);
  say(`   ${mark(handover < 1000)} after SIGTERM, a new leader within ${seconds(handover)}`);
  say(`   ${mark(left === 0)} election empty after the last replica stopped: ${left} keys left`);
  return failoverOk && left === 0;
}

/** Resolves once at least `count` keys exist under `keyPrefix`: watch first, then read, so no creation is missed. */
async function waitForKeyCount(c: Etcd3, keyPrefix: string, count: number): Promise<void> {
  const watcher = await c.watch().prefix(keyPrefix).create();
  try {
    for (;;) {
      const changed = once(watcher, 'data');
      if ((await c.getAll().prefix(keyPrefix).keys()).length >= count) return;
      await changed;
    }
  } finally {
    await watcher.cancel();
  }
}

// ---------------------------------------------------------------------------------------------

// Ctrl-C reaches the demo twice (from the terminal, and relayed by tsx): clean up once, ignore the
// rest. If tsx kills us before the clean-up is done (it does after 30 ms when we are slow to answer),
// the reaper finishes it.
let interrupted = false;
const stop = (why: string, code: number): void => {
  if (interrupted) return;
  interrupted = true;
  say(dim(`\n  ${why}: stopping the workers and etcd`));
  void cleanUp().finally(() => process.exit(code));
};
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) process.on(signal, () => stop(signal, code));
// Our parent (tsx, under npm run) killed: we are reparented. No event says so; a cheap check does.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && stop('parent process gone', 129), 250).unref();

const tooOld = nodeTooOld();
if (tooOld) {
  say(red(tooOld));
  process.exit(1);
}

say(bold('etcd-concurrency demo') + dim('  (fair locks and leader election on etcd leases, with fencing tokens)'));
let ok = false;
try {
  const endpoints = await connect();
  client = new Etcd3(resilientClientOptions({ hosts: endpoints }));
  const sold = await inventory(endpoints);
  const elected = await election(endpoints);
  ok = sold && elected;
} catch (error) {
  say(red(`demo failed: ${error instanceof Error ? error.message : String(error)}`));
} finally {
  await cleanUp();
}
say();
say(
  `${ok ? green('Done') : red('Failed')} in ${seconds(performance.now() - started)}. ` +
    dim(cluster ? 'etcd stopped and its temp dir removed; no process left running.' : 'Demo keys deleted; no process left running.'),
);
say(dim('Next: the CLI (npx etcd-concurrency --help), examples/ (npm run example inventory: on a throwaway etcd, or on ETCD_ENDPOINTS), README.md.'));
process.exit(ok ? 0 : 1);
