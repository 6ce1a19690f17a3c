import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Etcd3, type IOptions, type Namespace } from 'etcd3';
import { afterEach, inject } from 'vitest';
import { Session, type SessionOptions } from '../../lib/index.js';
import { etcdctlBinaryName } from '../../harness/environment.js';
import { capabilities, unmet } from './capabilities.js';

/** The endpoints of the cluster the suite shares. */
export function endpoints(): string[] {
  return inject('etcdEndpoints');
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  const pending = cleanups.splice(0).reverse();
  for (const cleanup of pending) await cleanup().catch(() => undefined);
});

/** An etcd3 client on the shared cluster (or `hosts`), closed after the test. */
export function client(options: Partial<IOptions> = {}): Etcd3 {
  const c = new Etcd3({ hosts: endpoints(), ...options });
  cleanups.push(async () => c.close());
  return c;
}

/** A session closed after the test. */
export async function session(on: Namespace, options: SessionOptions = {}): Promise<Session> {
  const s = await Session.create(on, { ttl: 10, ...options });
  cleanups.push(() => s.close());
  return s;
}

/** Registers a cleanup to run after the current test, before clients close. */
export function defer(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

/** A name no other test uses. */
export function uniqueName(label = 'lock'): string {
  return `test/${label}-${randomBytes(4).toString('hex')}`;
}

/** Keys under `prefix`, oldest first, as [key, createRevision]. */
export async function keysUnder(c: Namespace, prefix: string): Promise<[string, bigint][]> {
  const res = await c.getAll().prefix(prefix).sort('Create', 'Ascend').exec();
  return res.kvs.map(kv => [kv.key.toString(), BigInt(kv.create_revision)]);
}

/**
 * Resolves once at least `count` keys exist under `prefix`. Watches first, then reads, so no
 * creation is missed: an event-driven wait instead of a sleep.
 */
export async function waitForKeys(c: Namespace, prefix: string, count: number): Promise<[string, bigint][]> {
  const watcher = await c.watch().prefix(prefix).create();
  try {
    const changed = (): Promise<unknown> => once(watcher, 'data');
    for (;;) {
      const next = changed();
      const keys = await keysUnder(c, prefix);
      if (keys.length >= count) return keys;
      await next;
    }
  } finally {
    await watcher.cancel();
  }
}

/** Resolves once no key is left under `prefix`. */
export async function waitForNoKeys(c: Namespace, prefix: string): Promise<void> {
  const watcher = await c.watch().prefix(prefix).create();
  try {
    for (;;) {
      const next = once(watcher, 'data');
      if ((await keysUnder(c, prefix)).length === 0) return;
      await next;
    }
  } finally {
    await watcher.cancel();
  }
}

/** Resolves when `signal` aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise(resolve => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

/**
 * The command line that runs `etcdctl args` against `endpoints` (the shared cluster by default): the
 * local binary, or, in testcontainers mode without one, the etcdctl inside the etcd container
 * (`docker exec`, where the cluster is at 127.0.0.1:2379). Throws a one-line error when neither
 * exists: guard such tests with `given('etcdctl')` (spec/support/capabilities.ts).
 */
function etcdctlCommand(args: string[], on: string[] | undefined): [string, string[]] {
  const can = capabilities();
  if (can.localEtcdctl) return [etcdctlBinaryName(), [`--endpoints=${(on ?? endpoints()).join(',')}`, ...args]];
  if (can.etcdctl === 'container' && on === undefined) {
    return ['docker', ['exec', '-i', can.container!, 'etcdctl', '--endpoints=http://127.0.0.1:2379', ...args]];
  }
  throw new Error(`etcdctl ${args[0] ?? ''}: ${unmet(on === undefined ? 'etcdctl' : 'localEtcdctl') ?? 'cannot run here'}`);
}

/** Runs `etcdctl` (API v3) against the shared cluster (or `endpoints`) and returns its output. */
export async function etcdctl(args: string[], options: { input?: string; endpoints?: string[] } = {}): Promise<string> {
  const [command, argv] = etcdctlCommand(args, options.endpoints);
  const child = spawn(command, argv, { env: { ...process.env, ETCDCTL_API: '3' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(options.input ?? '');
  const [code] = (await Promise.race([once(child, 'exit'), once(child, 'error').then(([e]) => Promise.reject(e as Error))])) as [number | null];
  if (code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${code}: ${out}`);
  return out;
}

/**
 * Starts `etcdctl` without waiting for it (e.g. `etcdctl lock`), killed after the test. Needs etcdctl
 * on this host (`given('localEtcdctl')`): a test signals it, and `docker exec` would not pass that on.
 */
export function etcdctlProcess(args: string[]): ChildProcess {
  if (!capabilities().localEtcdctl) throw new Error(`etcdctl ${args[0] ?? ''}: ${unmet('localEtcdctl')}`);
  const child = spawn(etcdctlBinaryName(), [`--endpoints=${endpoints().join(',')}`, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child;
}

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Runs a TypeScript program from `spec/fixtures/` in its own Node process (through tsx). */
export function fixture(name: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', `${fixtures}${name}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
    env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(','), ...options.env },
  });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child;
}

/** Collects a child's stdout lines, and resolves with its exit code and them. */
export async function completion(child: ChildProcess): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, lines: out.split('\n').filter(Boolean), stderr: err };
}

/** Resolves with the first stdout line of `child` that matches `pattern`. */
export function lineMatching(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      const hit = lines.find(l => pattern.test(l));
      if (hit !== undefined) {
        child.stdout?.off('data', onData);
        resolve(hit);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', code => reject(new Error(`process exited (${code}) before printing ${pattern}`)));
  });
}
