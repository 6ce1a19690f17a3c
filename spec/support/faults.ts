import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Etcd3, type Namespace } from 'etcd3';
import { etcdctlBinaryName, etcdctlRuns } from '../../harness/environment.js';
import type { Cluster, Member } from '../../harness/cluster.js';

/**
 * Faults beyond the network ones of `proxy.ts` (and the member kill/restart/freeze/thaw of
 * `cluster.ts`): pausing a client process, compaction, and an operator's `etcdctl` revoking a lease or
 * deleting a key. Each returns once the fault has taken effect.
 */

/** Milliseconds on a clock every process on this machine shares (wall time at high resolution). */
export function sharedClock(): number {
  return performance.timeOrigin + performance.now();
}

/** One fault injected, as a test prints it. */
export interface FaultRecord {
  /** {@link sharedClock} time the fault took effect. */
  readonly at: number;
  readonly fault: string;
  /** What it hit: a client, a member, a key. */
  readonly target: string;
  readonly detail?: string;
}

/** The faults a test injected, in order. */
export class FaultLog {
  readonly records: FaultRecord[] = [];
  private readonly origin = sharedClock();

  note(fault: string, target: string, detail?: string): FaultRecord {
    const record = { at: sharedClock(), fault, target, ...(detail === undefined ? {} : { detail }) };
    this.records.push(record);
    return record;
  }

  /** Counts per kind of fault, e.g. `{ blackhole: 3, 'kill member': 2 }`. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.records) counts[r.fault] = (counts[r.fault] ?? 0) + 1;
    return counts;
  }

  /** One line per fault, timed from the log's creation. */
  lines(): string[] {
    return this.records.map(
      r => `${((r.at - this.origin) / 1000).toFixed(2).padStart(7)} s  ${r.fault} ${r.target}${r.detail ? ` (${r.detail})` : ''}`,
    );
  }
}

/**
 * SIGSTOP a client process: it keeps its sockets and its timers, but runs nothing until
 * {@link thawProcess}; longer than its TTL, its lease expires in etcd while it cannot notice.
 */
export function freezeProcess(child: ChildProcess): void {
  if (!child.kill('SIGSTOP')) throw new Error(`cannot SIGSTOP process ${child.pid}: it has exited`);
}

/** SIGCONT after {@link freezeProcess}. */
export function thawProcess(child: ChildProcess): void {
  child.kill('SIGCONT');
}

/**
 * Compacts etcd's history up to its current revision and waits until the compaction is applied
 * (`physical`): afterwards a watch that resumes from an older revision is cancelled by etcd.
 * @returns the revision compacted at.
 */
export async function compactNow(client: Etcd3): Promise<bigint> {
  const { header } = await client.kv.range({ key: Buffer.from([0]), limit: 1 });
  await client.kv.compact({ revision: header.revision, physical: true });
  return BigInt(header.revision);
}

/**
 * Runs `etcdctl` (API v3) against `endpoints`; resolves with its output, or undefined when there is no
 * etcdctl here. (No vitest here: fixtures use this file too.)
 */
let etcdctlHere: boolean | undefined;
async function etcdctl(args: string[], endpoints: string[]): Promise<string | undefined> {
  etcdctlHere ??= etcdctlRuns();
  if (!etcdctlHere) return undefined;
  const child = spawn(etcdctlBinaryName(), [`--endpoints=${endpoints.join(',')}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${code}: ${out}`);
  return out;
}

/** Without etcdctl: the same request from a client of its own, as an operator's tool would send it. */
async function withOwnClient<T>(endpoints: string[], use: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = new Etcd3({ hosts: endpoints });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * `etcdctl lease revoke` (or, where there is no etcdctl, the same LeaseRevoke from a client of its
 * own): an operator revokes a lease, and every key on it is deleted at once.
 */
export async function revokeLease(endpoints: string[], leaseIdHex: string): Promise<void> {
  if ((await etcdctl(['lease', 'revoke', leaseIdHex], endpoints)) !== undefined) return;
  await withOwnClient(endpoints, c => c.leaseClient.leaseRevoke({ ID: BigInt(`0x${leaseIdHex}`).toString() }));
}

/** `etcdctl del` (or the same DeleteRange from a client of its own): an operator deletes a key. @returns how many keys were deleted. */
export async function deleteKey(endpoints: string[], key: string): Promise<number> {
  const out = await etcdctl(['del', key], endpoints);
  if (out !== undefined) return Number(out.trim() || '0');
  return withOwnClient(endpoints, async c => Number((await c.delete().key(key).exec()).deleted));
}

/**
 * The member that is raft leader now, asked from each member's metrics endpoint (`etcd_server_is_leader`);
 * members that are down or frozen do not answer and are skipped. Retries until one answers yes.
 */
export async function leaderOf(cluster: Cluster, timeoutMs = 15_000): Promise<Member> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const member of cluster.members) {
      if (member.pid === undefined) continue;
      try {
        const res = await fetch(`${member.metricsUrl}/metrics`, { signal: AbortSignal.timeout(500) });
        if (/^etcd_server_is_leader 1$/m.test(await res.text())) return member;
      } catch {
        // down or frozen
      }
    }
    if (Date.now() > deadline) throw new Error(`no raft leader among ${cluster.members.length} members after ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/** Resolves once `key` does not exist (watching first, then reading, so no deletion is missed). */
export async function waitForDeletion(client: Namespace, key: string): Promise<void> {
  const watcher = await client.watch().key(key).create();
  try {
    const deleted = once(watcher, 'delete');
    if ((await client.get(key).string()) === null) return;
    await deleted;
  } finally {
    await watcher.cancel();
  }
}

