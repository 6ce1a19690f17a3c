import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { startCluster, type Cluster, type ClusterOptions } from '../../harness/cluster.js';
import { etcdctlBinaryName } from '../../harness/environment.js';

/** An etcd user the tests log in as. */
export interface User {
  readonly username: string;
  readonly password: string;
}

/** A cluster with authentication enabled, and the users it knows. */
export interface AuthCluster {
  readonly cluster: Cluster;
  readonly endpoints: string[];
  /** The `root` user: every permission. */
  readonly root: User;
  /** User `app1`, whose only role (`app1-rw`) grants read-write on the prefix `app1/`. */
  readonly app1: User;
  /** User `reader`, whose only role (`app1-r`) grants read on the prefix `app1/`. */
  readonly reader: User;
  /** User `nobody`, who has no role at all. */
  readonly nobody: User;
  stop(): Promise<void>;
}

/** Options of {@link startAuthCluster}: those of `startCluster`, and the token's lifetime. */
export interface AuthClusterOptions extends ClusterOptions {
  /**
   * `--auth-token-ttl` in seconds: a simple token unused for this long is forgotten by etcd, and the
   * next request carrying it fails with "invalid auth token". Default: etcd's (300).
   */
  tokenTtl?: number;
}

/** A password no test could guess, so a leak of it anywhere is easy to spot. */
export function secretPassword(label: string): string {
  return `${label}-secret-${randomBytes(12).toString('hex')}`;
}

/**
 * Runs `etcdctl` (API v3) against `endpoints`, feeding `input` on stdin (passwords go there, not on
 * the command line), and resolves with its output.
 */
export function etcdctlOn(endpoints: string[], args: string[], input?: string, extra: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      etcdctlBinaryName(),
      [`--endpoints=${endpoints.join(',')}`, ...extra, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`etcdctl ${args.join(' ')} failed: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/**
 * Starts a cluster (one member by default) with authentication enabled, the simple token provider
 * (`--auth-token=simple`), a `root` user, a user `app1` whose role grants read-write only on the
 * prefix `app1/`, a user `reader` with read only on `app1/`, and a user `nobody` with no role.
 * Passwords are random per call.
 */
export async function startAuthCluster(options: AuthClusterOptions = {}): Promise<AuthCluster> {
  const { tokenTtl, ...rest } = options;
  const cluster = await startCluster({
    size: 1,
    ...rest,
    args: [...(rest.args ?? []), '--auth-token=simple', ...(tokenTtl === undefined ? [] : [`--auth-token-ttl=${tokenTtl}`])],
  });
  const root = { username: 'root', password: secretPassword('root') };
  const app1 = { username: 'app1', password: secretPassword('app1') };
  const reader = { username: 'reader', password: secretPassword('reader') };
  const nobody = { username: 'nobody', password: secretPassword('nobody') };
  const ctl = (args: string[], input?: string): Promise<string> => etcdctlOn(cluster.endpoints, args, input);
  try {
    for (const user of [root, app1, reader, nobody]) {
      await ctl(['user', 'add', user.username, '--interactive=false'], `${user.password}\n`);
    }
    await ctl(['user', 'grant-role', 'root', 'root']);
    await ctl(['role', 'add', 'app1-rw']);
    await ctl(['role', 'grant-permission', 'app1-rw', 'readwrite', 'app1/', '--prefix=true']);
    await ctl(['user', 'grant-role', 'app1', 'app1-rw']);
    await ctl(['role', 'add', 'app1-r']);
    await ctl(['role', 'grant-permission', 'app1-r', 'read', 'app1/', '--prefix=true']);
    await ctl(['user', 'grant-role', 'reader', 'app1-r']);
    await ctl(['auth', 'enable']);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return { cluster, endpoints: cluster.endpoints, root, app1, reader, nobody, stop: () => cluster.stop() };
}

/**
 * Resolves with the first `count` JSON log lines of an etcd member (`member.logFile`) that `match`
 * accepts, e.g. etcd's `"deleted a simple token"` (level info) when a token expires, or
 * `"authenticated a user"` (level debug). Watches the file before each read, so no line is missed:
 * an event, not a sleep.
 */
export async function logEntries(
  file: string,
  match: (entry: Record<string, unknown>) => boolean,
  count = 1,
): Promise<Record<string, unknown>[]> {
  let changed: () => void = () => undefined;
  const watcher = watch(file, () => changed());
  try {
    for (;;) {
      const next = new Promise<void>(resolve => (changed = resolve));
      const found: Record<string, unknown>[] = [];
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not JSON, or still being written
        }
        if (match(entry)) found.push(entry);
        if (found.length >= count) return found;
      }
      await next;
    }
  } finally {
    watcher.close();
  }
}
