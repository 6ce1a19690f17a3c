import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { EtcdAuthenticationFailedError, Etcd3, type Namespace } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  Election,
  EtcdUnavailableError,
  LeaderElector,
  Mutex,
  PermissionDeniedError,
  Session,
  TlsHandshakeError,
  connectionSettingsFromEnv,
  etcdClientOptions,
  isTransient,
  type ConnectionSettings,
  type LeaderInfo,
} from '../lib/index.js';
import { logEntries, startAuthCluster, etcdctlOn, type AuthCluster, type User } from './support/auth.js';
import { startCluster, type Cluster, type Member } from '../harness/cluster.js';
import { defer, keysUnder, session, uniqueName, waitForKeys } from './support/etcd.js';
import { createPki, type Pki } from './support/tls.js';
import { ExitCode } from '../lib/cli/exit-codes.js';
import { given } from './support/capabilities.js';

const CLI = fileURLToPath(new URL('../lib/cli.ts', import.meta.url));

/** Runs the CLI (from source, through tsx) to its end, with only `env` on top of a clean environment. */
async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ETCD_|ETCDCTL_)/.test(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out, err };
}

/** The default retry policy, counting its retries. */
function countingPolicy(): { policy: RetryPolicy; retries: () => number } {
  const policy = retry(handleWhen(isTransient), { maxAttempts: 7, backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }) });
  let retries = 0;
  policy.onRetry(() => retries++);
  return { policy, retries: () => retries };
}

/** A promise and its resolve/reject (Promise.withResolvers needs Node 22). */
function resolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A client closed after the test. */
function closing(c: Etcd3): Etcd3 {
  defer(async () => c.close());
  return c;
}

/** Steps through an election's observer; stopped after the test. */
function observer(election: Election): () => Promise<LeaderInfo | undefined> {
  const stop = new AbortController();
  const states = election.observe({ signal: stop.signal });
  defer(async () => stop.abort());
  return async () => {
    const next = await states.next();
    if (next.done) throw new Error('observer ended');
    return next.value;
  };
}

/** Everything an error shows when printed, logged or serialised, with its causes. */
function everythingShown(error: unknown): string {
  const parts: string[] = [inspect(error, { depth: 10 })];
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    parts.push(e.message, String(e.stack), JSON.stringify(e), String(e));
  }
  return parts.join('\n');
}

/** Lines of a PEM file's body: any of them appearing somewhere means the key leaked. */
function pemBody(pem: Buffer): string[] {
  return pem
    .toString()
    .split('\n')
    .filter(line => line.length > 20 && !line.startsWith('-----'));
}

/** How many requests etcd answered with a given gRPC code, per its Prometheus counters. */
async function handled(member: Member, method: string, code: string): Promise<number> {
  const text = await (await fetch(`${member.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find(l => l.startsWith('grpc_server_handled_total{') && l.includes(`grpc_code="${code}"`) && l.includes(`grpc_method="${method}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

given('ownClusters', 'openssl').describe('TLS with client certificates', () => {
  let pki: Pki;
  let cluster: Cluster;
  beforeAll(async () => {
    pki = await createPki();
    cluster = await startCluster({ tls: pki.flags });
  });
  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  const good = (): ConnectionSettings => ({
    endpoints: cluster.endpoints,
    caFile: pki.caFile,
    certFile: pki.client.certFile,
    keyFile: pki.client.keyFile,
  });
  const ctlTls = (): string[] => [`--cacert=${pki.caFile}`, `--cert=${pki.client.certFile}`, `--key=${pki.client.keyFile}`];

  given('localEtcdctl').it('locks, campaigns and observes end to end over TLS only; etcdctl with the same certificate sees the keys', async () => {
    const c = closing(new Etcd3(etcdClientOptions(good())));
    const [s1, s2] = [await session(c), await session(c)];
    const name = uniqueName('tls');

    // A lock handed from holder to waiter: the waiter hears the release through a watch over TLS.
    const holder = await new Mutex(s1, name).lock();
    const waiting = new Mutex(s2, name).lock();
    await waitForKeys(c, `${name}/`, 2);
    const listed = await etcdctlOn(cluster.endpoints, ['get', '--prefix', '--keys-only', `${name}/`], undefined, ctlTls());
    expect(listed).toContain(holder.key);
    await holder.unlock();
    const next = await waiting;
    expect(next.fencingToken).toBeGreaterThan(holder.fencingToken);
    await next.unlock();

    // An election, observed.
    const electionName = `${name}-election`;
    const nextState = observer(new Election(s2, electionName));
    expect(await nextState()).toBeUndefined();
    const leader = await new Election(s1, electionName).campaign('tls-a');
    expect(await nextState()).toMatchObject({ key: leader.key, value: 'tls-a' });
    await leader.proclaim('tls-b');
    expect(await nextState()).toMatchObject({ key: leader.key, value: 'tls-b' });
    const follower = new Election(s2, electionName).campaign('tls-c');
    await waitForKeys(c, `${electionName}/`, 2);
    await leader.resign();
    const second = await follower;
    expect(await nextState()).toMatchObject({ key: second.key, value: 'tls-c' });
    await second.resign();
    expect(await nextState()).toBeUndefined();
    expect(await keysUnder(c, name)).toEqual([]);
  });

  it('takes the settings from etcdctl’s environment variables, and raw etcd3 credentials pass through as they are', async () => {
    const fromEnv = connectionSettingsFromEnv({
      ETCD_ENDPOINTS: cluster.endpoints.join(','),
      ETCDCTL_CACERT: pki.caFile,
      ETCDCTL_CERT: pki.client.certFile,
      ETCDCTL_KEY: pki.client.keyFile,
    });
    expect(fromEnv).toEqual({ ...good(), endpoints: cluster.endpoints.join(',') });
    const raw = new Etcd3({
      hosts: cluster.endpoints,
      credentials: { rootCertificate: pki.ca, privateKey: pki.client.key, certChain: pki.client.cert },
    });
    for (const c of [closing(new Etcd3(etcdClientOptions(fromEnv))), closing(raw)]) {
      const lock = await new Mutex(await session(c), uniqueName('tls-env')).tryLock();
      expect(lock).not.toBeNull();
      await lock!.unlock();
    }
  });

  const refusals: [string, () => ConnectionSettings, RegExp][] = [
    ['a CA that did not sign etcd’s certificate', () => ({ ...good(), caFile: pki.otherCa.caFile }), /etcd's certificate is not trusted/],
    ['no client certificate', () => ({ endpoints: cluster.endpoints, caFile: pki.caFile }), /etcd refused our client certificate/],
    [
      'a client certificate from another CA',
      () => ({ ...good(), certFile: pki.strangerClient.certFile, keyFile: pki.strangerClient.keyFile }),
      /etcd refused our client certificate/,
    ],
    ['https with the system CAs only', () => ({ endpoints: cluster.endpoints, caFile: undefined }), /etcd's certificate is not trusted/],
  ];
  for (const [label, settings, hint] of refusals) {
    it(`${label}: TlsHandshakeError at once, never retried, well within the timeout, no key material shown`, async () => {
      const c = closing(new Etcd3(etcdClientOptions(settings())));
      const { policy, retries } = countingPolicy();
      const timeout = 5000;
      const started = performance.now();
      const error = await Session.create(c, { timeout, retryPolicy: policy }).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(TlsHandshakeError);
      expect(error).toBeInstanceOf(EtcdUnavailableError); // existing catches of "etcd unreachable" still apply
      expect((error as Error).message).toMatch(/^TLS handshake with etcd failed, could not grant a lease: /);
      expect((error as Error).message).toMatch(hint);
      expect(retries()).toBe(0);
      expect(elapsed).toBeLessThan(timeout);
      const shown = everythingShown(error);
      for (const line of [...pemBody(pki.client.key), ...pemBody(pki.strangerClient.key)]) expect(shown).not.toContain(line);
    });
  }

  it('the CLI takes --cacert/--cert/--key or etcdctl’s variables; a refusal is a clear TLS error; no key material in its output', async () => {
    const name = uniqueName('cli-tls');
    const endpoints = cluster.endpoints.join(',');
    const flags = ['--endpoints', endpoints, '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile];
    const runs = [
      await runCli(['lock', name, ...flags, '--', 'sh', '-c', 'echo "held $ETCD_LOCK_KEY"']),
      await runCli(['status', name, '--json'], {
        ETCD_ENDPOINTS: endpoints,
        ETCDCTL_CACERT: pki.caFile,
        ETCDCTL_CERT: pki.client.certFile,
        ETCDCTL_KEY: pki.client.keyFile,
      }),
      await runCli(['status', name, '--endpoints', endpoints, '--cacert', pki.caFile], { ETCD_CONCURRENCY_DEBUG: '1' }),
      await runCli(['status', name, '--endpoints', endpoints, '--cacert', pki.caFile, '--cert', pki.client.certFile]),
    ];
    const [locked, status, refused, half] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
    expect(locked.code, locked.err).toBe(0);
    expect(locked.out).toContain(`held ${name}/`);
    expect(status.code, status.err).toBe(0);
    expect(JSON.parse(status.out)).toEqual([]);
    expect(refused.code).toBe(ExitCode.unavailable);
    expect(refused.err).toMatch(/TLS handshake with etcd failed.*etcd refused our client certificate/);
    expect(half.code).toBe(ExitCode.usage);
    expect(half.err).toContain('A client certificate needs both certFile and keyFile');
    for (const run of runs) for (const line of pemBody(pki.client.key)) expect(run.out + run.err).not.toContain(line);
  });

  it('etcdClientOptions keeps the private key out of what logging or serialising the options shows', () => {
    const options = etcdClientOptions(good());
    expect(options.credentials?.privateKey).toEqual(pki.client.key);
    const shown = [inspect(options, { depth: 10 }), JSON.stringify(options)].join('\n');
    for (const line of pemBody(pki.client.key)) expect(shown).not.toContain(line);
    // The certificate is public and may show; the key file's path is named in errors, never its contents.
    expect(() => etcdClientOptions({ ...good(), keyFile: `${pki.dir}/missing.key` })).toThrow(/Cannot read keyFile ".*missing\.key": ENOENT/);
    expect(() => etcdClientOptions({ ...good(), keyFile: undefined })).toThrow(/needs both certFile and keyFile/);
    expect(() => etcdClientOptions({ ...good(), caFile: pki.dir })).toThrow(/Cannot read caFile/);
  });
});

given('ownClusters', 'localEtcdctl').describe('etcd users and roles', () => {
  let auth: AuthCluster;
  beforeAll(async () => {
    auth = await startAuthCluster();
  });
  afterAll(async () => {
    await auth?.stop();
  });

  const as = (user: User | undefined): Etcd3 =>
    closing(new Etcd3(etcdClientOptions({ endpoints: auth.endpoints, username: user?.username, password: user?.password })));

  it('a user whose role grants read-write on app1/ locks, campaigns and observes there; nothing is left', async () => {
    const c = as(auth.app1);
    const [s1, s2] = [await session(c), await session(c)];
    const name = `app1/${uniqueName('auth')}`;
    const holder = await new Mutex(s1, name).lock();
    const waiting = new Mutex(s2, name).lock();
    await waitForKeys(c, `${name}/`, 2);
    await holder.unlock();
    await (await waiting).unlock();

    const next = observer(new Election(s2, name));
    expect(await next()).toBeUndefined();
    const leader = await new Election(s1, name).campaign('app1-leader');
    expect(await next()).toMatchObject({ key: leader.key, value: 'app1-leader' });
    await leader.resign();
    expect(await next()).toBeUndefined();
    expect(await keysUnder(as(auth.root), name)).toEqual([]);
  });

  it('outside its prefix (app2/) it gets PermissionDeniedError at once, never retried; nothing is left; the client still works', async () => {
    const c = as(auth.app1);
    const { policy, retries } = countingPolicy();
    const s = await session(c, { retryPolicy: policy });
    const member = auth.cluster.members[0]!;
    const deniedBefore = await handled(member, 'Txn', 'PermissionDenied');
    const name = `app2/${uniqueName('auth')}`;

    const refusals: Promise<unknown>[] = [
      new Mutex(s, name).lock(),
      new Mutex(s, name).tryLock(),
      new Election(s, name).campaign('nope'),
      new Election(s, name).leader(),
      (async () => {
        for await (const leader of new Election(s, name).observe()) return leader;
      })(),
    ];
    for (const error of await Promise.all(refusals.map(r => r.catch((e: unknown) => e)))) {
      expect(error).toBeInstanceOf(PermissionDeniedError);
      // etcd's own answer, whichever call or watch it refused.
      expect(((error as Error).cause as Error).message).toContain('etcdserver: permission denied');
      expect((error as Error).message).toContain('permission denied');
    }
    expect(retries()).toBe(0);
    // Each refused join costs etcd at most two transactions: its create, and the clean-up of a key
    // that an earlier attempt might have created. A retry would add to that.
    const denied = (await handled(member, 'Txn', 'PermissionDenied')) - deniedBefore;
    expect(denied).toBeGreaterThan(0);
    expect(denied).toBeLessThanOrEqual(6);

    expect(await keysUnder(as(auth.root), 'app2/')).toEqual([]);
    const live = await c.leaseClient.leaseTimeToLive({ ID: s.lease, keys: true });
    expect(live.keys).toEqual([]);
    // etcd3 stalls a watch stream after a refused watch; the same client's waiters must still hear releases.
    const permitted = `app1/${uniqueName('after-refusal')}`;
    const holder = await new Mutex(s, permitted).lock();
    const waiting = new Mutex(await session(c), permitted).lock();
    await waitForKeys(c, `${permitted}/`, 2);
    await holder.unlock();
    await (await waiting).unlock();
  });

  it('read permission on app1/ is enough to observe an election and for the CLI’s status, not to campaign or lock', async () => {
    const name = `app1/${uniqueName('read')}`;
    const leader = await new Election(await session(as(auth.app1)), name).campaign('seen by reader');
    const reader = await session(as(auth.reader));
    expect(await new Election(reader, name).leader()).toMatchObject({ key: leader.key, value: 'seen by reader' });
    const next = observer(new Election(reader, name));
    expect(await next()).toMatchObject({ key: leader.key });
    const status = await runCli(['status', name, '--json', '--endpoints', auth.endpoints.join(',')], {
      ETCDCTL_USER: 'reader',
      ETCDCTL_PASSWORD: auth.reader.password,
    });
    expect(status.code, status.err).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject([{ key: leader.key, value: 'seen by reader' }]);
    await expect(new Election(reader, name).campaign('no')).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(new Mutex(reader, name).lock()).rejects.toBeInstanceOf(PermissionDeniedError);
    await leader.resign();
    expect(await next()).toBeUndefined();
  });

  it('a LeaderElector given the app1 client leads under app1/, and reports PermissionDeniedError under app2/', async () => {
    const c = as(auth.app1);
    const led = resolvers<string>();
    const refused = resolvers<Error>();
    const allowed = new LeaderElector({
      client: c,
      name: `app1/${uniqueName('elector')}`,
      value: 'me',
      ttl: 5,
      onStartedLeading: (_signal, leadership) => led.resolve(leadership.key),
    });
    const denied = new LeaderElector({
      client: c,
      name: `app2/${uniqueName('elector')}`,
      ttl: 5,
      onStartedLeading: () => refused.reject(new Error('led under app2/')),
      onError: error => refused.resolve(error),
    });
    defer(() => Promise.all([allowed.stop(), denied.stop()]));
    await Promise.all([allowed.start(), denied.start()]);
    expect(await led.promise).toMatch(/^app1\//);
    expect(await refused.promise).toBeInstanceOf(PermissionDeniedError);
  });

  it('a user without a role, a wrong password and a client without credentials are refused with PermissionDeniedError', async () => {
    // Leases need no permission: any authenticated user gets one, and nothing more.
    const nobody = await session(as(auth.nobody));
    await expect(new Mutex(nobody, `app1/${uniqueName()}`).lock()).rejects.toBeInstanceOf(PermissionDeniedError);

    const { policy, retries } = countingPolicy();
    const wrong = as({ username: 'app1', password: 'not-the-password' });
    const error = await Session.create(wrong, { retryPolicy: policy }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect((error as Error).cause).toBeInstanceOf(EtcdAuthenticationFailedError);
    expect(retries()).toBe(0);

    // etcd 3.4 answers a client with no credentials "user name is empty".
    const anonymous = await session(as(undefined));
    const refused = await new Mutex(anonymous, `app1/${uniqueName()}`).lock().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect((refused as Error).message).toContain('user name is empty');
  });

  it('the CLI takes --user/--password or etcdctl’s variables; no password in its output, errors or the command’s environment', async () => {
    const endpoints = auth.endpoints.join(',');
    const name = `app1/${uniqueName('cli-auth')}`;
    const wrong = `wrong-${auth.app1.password}`;
    const runs = [
      await runCli(['lock', name, '--endpoints', endpoints, '--user', 'app1', '--password', auth.app1.password, '--', 'sh', '-c', 'env; echo done']),
      await runCli(['status', name], { ETCD_ENDPOINTS: endpoints, ETCDCTL_USER: 'app1', ETCDCTL_PASSWORD: auth.app1.password }),
      await runCli(['status', `app2/${uniqueName()}`, '--endpoints', endpoints, '--user', `app1:${auth.app1.password}`]),
      await runCli(['status', name, '--endpoints', endpoints, '--user', 'app1', '--password', wrong], { ETCD_CONCURRENCY_DEBUG: '1' }),
      await runCli(['status', name, '--endpoints', endpoints, '--password', auth.app1.password]),
    ];
    const [locked, status, denied, badPassword, noUser] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
    expect(locked.code, locked.err).toBe(0);
    expect(locked.out).toContain('done');
    expect(status.code, status.err).toBe(0);
    expect(denied.code).toBe(ExitCode.permissionDenied);
    expect(denied.err).toContain('permission denied');
    expect(badPassword.code).toBe(ExitCode.permissionDenied);
    expect(badPassword.err).toContain('authentication failed');
    expect(noUser.code).toBe(ExitCode.usage);
    for (const run of runs) for (const secret of [auth.app1.password, wrong]) expect(run.out + run.err).not.toContain(secret);
  });

  it('no password appears in errors, in logged or serialised options, or in the client', async () => {
    const wrongPassword = `wrong-${auth.app1.password}`;
    const errors = [
      await Session.create(as({ username: 'app1', password: wrongPassword })).catch((e: unknown) => e),
      await new Mutex(await session(as(auth.app1)), `app2/${uniqueName()}`).lock().catch((e: unknown) => e),
    ];
    const options = etcdClientOptions({ endpoints: auth.endpoints, username: 'app1', password: auth.app1.password });
    expect(options.auth?.password).toBe(auth.app1.password);
    const c = closing(new Etcd3(options));
    await (await session(c)).close();
    const shown = [...errors.map(everythingShown), inspect(options, { depth: 10 }), JSON.stringify(options), inspect(c, { depth: 4 })].join('\n');
    for (const secret of [auth.app1.password, wrongPassword, auth.root.password]) expect(shown).not.toContain(secret);
    // etcdctl's `name:password` form is split, and the password hidden the same way.
    const colon = etcdClientOptions({ username: `app1:${auth.app1.password}` });
    expect(colon.auth?.username).toBe('app1');
    expect(JSON.stringify(colon)).not.toContain(auth.app1.password);
  });
});

given('ownClusters', 'localEtcdctl').describe('an auth token that etcd forgets while a waiter waits', () => {
  let auth: AuthCluster;
  beforeAll(async () => {
    // Simple tokens unused for 1 s are deleted; at level debug etcd logs each deletion and each login.
    auth = await startAuthCluster({ tokenTtl: 1, args: ['--log-level=debug'] });
  });
  afterAll(async () => {
    await auth?.stop();
  });

  const as = (user: User): Etcd3 =>
    closing(new Etcd3(etcdClientOptions({ endpoints: auth.endpoints, username: user.username, password: user.password })));

  /** The token `client` currently sends (etcd3 keeps it in its connection pool). */
  async function tokenOf(client: Namespace): Promise<string> {
    const internals = client as unknown as { pool: { authenticator: { getMetadata(): Promise<{ get(k: string): unknown[] }> } } };
    return String((await internals.pool.authenticator.getMetadata()).get('token')[0]);
  }

  it('expired (--auth-token-ttl): the waiter follows a new predecessor on a fresh token and gets the lock', async () => {
    const member = auth.cluster.members[0]!;
    const root = as(auth.root);
    const app1 = as(auth.app1);
    const name = `app1/${uniqueName('expiry')}`;
    const [sA, sB] = [await session(root, { ttl: 30 }), await session(root, { ttl: 30 })];
    const sC = await session(app1, { ttl: 30 });
    const holder = await new Mutex(sA, name).lock();
    const leaving = new AbortController();
    const b = new Mutex(sB, name).lock({ signal: leaving.signal });
    await waitForKeys(root, `${name}/`, 2);
    let cSettled = false;
    const c = new Mutex(sC, name).lock().finally(() => (cSettled = true));
    await waitForKeys(root, `${name}/`, 3);

    // C waits on B with no request of its own: its token goes unused, and etcd deletes it.
    const token = await tokenOf(app1);
    const [deleted] = await logEntries(member.logFile, e => e.msg === 'deleted a simple token' && e.token === token);

    // B leaves: C must now watch A, on a stream whose token etcd no longer knows.
    leaving.abort(new Error('B leaves'));
    await expect(b).rejects.toThrow('B leaves');
    expect((await keysUnder(root, `${name}/`)).map(([k]) => k)).toEqual([holder.key, `${name}/${sC.leaseId}`]);
    // C logs in again twice: when etcd refuses its next read (etcd3 does that for unary calls), and
    // when etcd refuses its new watch on A and the watch stream reopens with a fresh token. Without
    // the second, C's watch (and every later one on that stream) would wait forever.
    await logEntries(member.logFile, e => e.msg === 'authenticated a user' && e['user-name'] === 'app1' && String(e.ts) >= String(deleted!.ts), 2);
    expect(cSettled).toBe(false);
    await holder.unlock();
    const lock = await c;
    expect(lock.fencingToken).toBeGreaterThan(holder.fencingToken);
    expect(await tokenOf(app1)).not.toBe(token);
    await lock.unlock();
    expect(await keysUnder(root, `${name}/`)).toEqual([]);
  });

  it('revoked (the password was reset): a waiter, a candidate and an observer carry on with a fresh token', async () => {
    const member = auth.cluster.members[0]!;
    const root = as(auth.root);
    const app1 = as(auth.app1);
    const name = `app1/${uniqueName('revoked')}`;
    const electionName = `${name}-e`;
    const [sA, sB] = [await session(root, { ttl: 30 }), await session(root, { ttl: 30 })];
    const sC = await session(app1, { ttl: 30 });
    const holder = await new Mutex(sA, name).lock();
    const leader = await new Election(sA, electionName).campaign('a');
    const leaving = new AbortController();
    const bLock = new Mutex(sB, name).lock({ signal: leaving.signal });
    const bCampaign = new Election(sB, electionName).campaign('b', { signal: leaving.signal });
    await waitForKeys(root, `${name}/`, 2);
    await waitForKeys(root, `${electionName}/`, 2);
    const cLock = new Mutex(sC, name).lock();
    const cCampaign = new Election(sC, electionName).campaign('c');
    await waitForKeys(root, `${name}/`, 3);
    await waitForKeys(root, `${electionName}/`, 3);
    const next = observer(new Election(sC, electionName));
    expect(await next()).toMatchObject({ key: leader.key, value: 'a' });

    // Changing a user's password (here to the same one) makes etcd forget every token of that user.
    const revokedAt = new Date().toISOString();
    await etcdctlOn(auth.endpoints, ['user', 'passwd', 'app1', '--interactive=false'], `${auth.app1.password}\n`, [
      `--user=root:${auth.root.password}`,
    ]);
    // B leaves both queues: C must watch A in each, on a stream whose token etcd no longer knows.
    leaving.abort(new Error('B leaves'));
    // Both handlers attached at once: either may reject first.
    await Promise.all([expect(bLock).rejects.toThrow('B leaves'), expect(bCampaign).rejects.toThrow('B leaves')]);
    await logEntries(member.logFile, e => e.msg === 'authenticated a user' && e['user-name'] === 'app1' && String(e.ts) >= revokedAt, 2);
    await holder.unlock();
    await leader.resign();
    const [lock, leadership] = await Promise.all([cLock, cCampaign]);
    expect(await next()).toMatchObject({ key: leadership.key, value: 'c' });
    expect(sC.ended).toBe(false);
    await lock.unlock();
    await leadership.resign();
    expect(await keysUnder(root, name)).toEqual([]);
  });
});
