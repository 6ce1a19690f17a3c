import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { client, etcdctl, etcdctlProcess, keysUnder, lineMatching, uniqueName, waitForKeys } from '../support/etcd.js';
import { given } from '../support/capabilities.js';
import { cli } from './run.js';

/** A shell command that prints `held <vars>` once it runs, then waits for a line on stdin. */
const holdUntilInput = ['sh', '-c', 'echo "held $ETCD_LOCK_KEY $ETCD_LOCK_REV $ETCD_FENCING_TOKEN $ETCD_LEASE_ID"; read x; exit 0'];

/** A shell command that reports SIGTERM and exits 5 on it; prints `ready <lease>` when running. */
const exitOnTerm = ['sh', '-c', 'trap "echo got SIGTERM; exit 5" TERM; echo "ready $ETCD_LEASE_ID"; while :; do sleep 0.05; done'];

describe('etcd-concurrency lock', () => {
  it('runs the command holding the lock, with ETCD_LOCK_KEY/REV, the fencing token and the lease, and passes its exit code through', async () => {
    const c = client();
    const name = uniqueName('cli');
    const run = cli(['lock', name, '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV $ETCD_FENCING_TOKEN $ETCD_LEASE_ID"; read x; exit 7']);
    const [key, rev, token, lease] = (await run.line(new RegExp(`^${name}/`))).split(' ') as [string, string, string, string];
    const [[heldKey, createRevision]] = (await keysUnder(c, `${name}/`)) as [[string, bigint]];
    expect(key).toBe(heldKey);
    expect(key).toBe(`${name}/${lease}`);
    expect(BigInt(token)).toBe(createRevision);
    expect(BigInt(rev)).toBeGreaterThanOrEqual(createRevision);
    run.child.stdin!.end('\n');
    expect(await run.exited).toBe(7);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  given('localEtcdctl').it('excludes `etcdctl lock` and another CLI on the same name, and serves them in arrival order', async () => {
    const c = client();
    const name = uniqueName('cli');
    const first = cli(['lock', name, '--', ...holdUntilInput]);
    const firstToken = BigInt((await first.line(/^held /)).split(' ')[3]!);

    const etcdctlWaiter = etcdctlProcess(['lock', name]);
    await waitForKeys(c, `${name}/`, 2);
    const second = cli(['lock', name, '--', ...holdUntilInput]);
    const queued = await waitForKeys(c, `${name}/`, 3);
    // Both are queued behind the first holder; neither has run.
    expect(second.lines).toEqual([]);
    expect(etcdctlWaiter.exitCode).toBeNull();

    first.child.stdin!.end('\n');
    expect(await first.exited).toBe(0);
    expect(await lineMatching(etcdctlWaiter, new RegExp(`^${name}/`))).toBe(queued[1]![0]);
    expect(second.lines).toEqual([]);

    etcdctlWaiter.kill('SIGINT'); // etcdctl releases on an interrupt
    await once(etcdctlWaiter, 'exit');
    const secondToken = BigInt((await second.line(/^held /)).split(' ')[3]!);
    expect(secondToken).toBe(queued[2]![1]);
    expect(secondToken).toBeGreaterThan(queued[1]![1]);
    expect(queued[1]![1]).toBeGreaterThan(firstToken);
    second.child.stdin!.end('\n');
    expect(await second.exited).toBe(0);
  });

  given('etcdctl').it('on loss (lease revoked by someone else) sends SIGTERM to the command and exits with the lock-lost code', async () => {
    const c = client();
    const name = uniqueName('cli');
    const run = cli(['lock', name, '--', ...exitOnTerm]);
    const lease = (await run.line(/^ready /)).split(' ')[1]!;
    await etcdctl(['lease', 'revoke', lease]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.lines).toContain('got SIGTERM');
    expect(run.stderr()).toMatch(new RegExp(`lost the lock "${name}"`));
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  given('etcdctl').it('on loss sends SIGKILL to a command that ignores SIGTERM once the grace period is over', async () => {
    const name = uniqueName('cli');
    const run = cli(['lock', name, '--grace', '300ms', '--', 'sh', '-c', 'trap "echo ignoring SIGTERM" TERM; echo "ready $ETCD_LEASE_ID"; while :; do sleep 0.05; done']);
    const lease = (await run.line(/^ready /)).split(' ')[1]!;
    await etcdctl(['lease', 'revoke', lease]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.stderr()).toMatch(/did not stop within 300 ms: sending SIGKILL/);
  });

  given('etcdctl').it('also stops the command when its key is deleted by hand', async () => {
    const name = uniqueName('cli');
    const run = cli(['lock', name, '--', ...exitOnTerm]);
    await run.line(/^ready /);
    await etcdctl(['del', '--prefix', `${name}/`]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.lines).toContain('got SIGTERM');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('forwards %s to the command, exits with its code and leaves no key', async signal => {
    const c = client();
    const name = uniqueName('cli');
    const script = `trap "echo got ${signal}; exit 5" ${signal.slice(3)}; echo ready; while :; do sleep 0.05; done`;
    const run = cli(['lock', name, '--', 'sh', '-c', script]);
    await run.line(/^ready$/);
    run.child.kill(signal);
    expect(await run.exited).toBe(5);
    expect(run.lines).toContain(`got ${signal}`);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  given('localEtcdctl').it('a signal while waiting stops the wait: the command never runs, no key is left, exit 128+N', async () => {
    const c = client();
    const name = uniqueName('cli');
    const holder = etcdctlProcess(['lock', name]);
    await lineMatching(holder, new RegExp(`^${name}/`));
    const run = cli(['lock', name, '--', 'echo', 'ran']);
    await waitForKeys(c, `${name}/`, 2);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(128 + 15);
    expect(run.lines).toEqual([]);
    expect(run.stderr()).toMatch(/interrupted by SIGTERM/);
    expect((await keysUnder(c, `${name}/`)).length).toBe(1);
  });

  given('localEtcdctl').it('gives up after --timeout with the timed-out code, without running the command or leaving its key', async () => {
    const c = client();
    const name = uniqueName('cli');
    const holder = etcdctlProcess(['lock', name]);
    const holderKey = await lineMatching(holder, new RegExp(`^${name}/`));
    const run = cli(['lock', name, '--timeout', '200ms', '--', 'echo', 'ran']);
    expect(await run.exited).toBe(ExitCode.timedOut);
    expect(run.lines).toEqual([]);
    expect(run.stderr()).toMatch(/Timed out after 200 ms/);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([holderKey]);
  });

  it('reports a command that does not exist with 127 and releases the lock', async () => {
    const c = client();
    const name = uniqueName('cli');
    const run = cli(['lock', name, '--', 'no-such-command-xyz']);
    expect(await run.exited).toBe(ExitCode.notFound);
    expect(run.stderr()).toMatch(/cannot run "no-such-command-xyz": command not found/);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });
});

describe('etcd-concurrency elect', () => {
  const leadUntilInput = ['sh', '-c', 'echo "leading $ETCD_ELECTION_KEY $ETCD_ELECTION_REV $ETCD_FENCING_TOKEN"; read x; exit 3'];

  given('localEtcdctl').it('runs the command only while leader, after `etcdctl elect` and an earlier CLI candidate step down, in campaign order', async () => {
    const c = client();
    const name = uniqueName('cli-elect');
    const first = etcdctlProcess(['elect', name, 'etcdctl-candidate']);
    await lineMatching(first, new RegExp(`^${name}/`));
    const second = cli(['elect', name, 'second', '--', ...leadUntilInput]);
    await waitForKeys(c, `${name}/`, 2);
    const third = cli(['elect', name, 'third', '--', ...leadUntilInput]);
    const queued = await waitForKeys(c, `${name}/`, 3);
    expect(second.lines).toEqual([]);

    first.kill('SIGINT'); // etcdctl resigns on an interrupt
    const [, key, rev, token] = (await second.line(/^leading /)).split(' ') as [string, string, string, string];
    expect([key, BigInt(token)]).toEqual(queued[1]);
    expect(BigInt(rev)).toBeGreaterThanOrEqual(BigInt(token));
    const leader = await etcdctl(['get', key, '--print-value-only']);
    expect(leader.trim()).toBe('second');
    expect(third.lines).toEqual([]);

    second.child.stdin!.end('\n');
    expect(await second.exited).toBe(3); // the command's own exit code
    const thirdToken = BigInt((await third.line(/^leading /)).split(' ')[3]!);
    expect(thirdToken).toBe(queued[2]![1]);
    third.child.stdin!.end('\n');
    expect(await third.exited).toBe(3);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  given('etcdctl').it('stops the command and exits with the lost code when leadership is lost', async () => {
    const c = client();
    const name = uniqueName('cli-elect');
    const run = cli(['elect', name, 'me', '--', ...exitOnTerm]);
    const lease = (await run.line(/^ready /)).split(' ')[1]!;
    await etcdctl(['lease', 'revoke', lease]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.lines).toContain('got SIGTERM');
    expect(run.stderr()).toMatch(new RegExp(`lost the leadership of "${name}"`));
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  });

  given('localEtcdctl').it('gives up campaigning after --timeout with the timed-out code', async () => {
    const c = client();
    const name = uniqueName('cli-elect');
    const leader = etcdctlProcess(['elect', name, 'incumbent']);
    const leaderKey = await lineMatching(leader, new RegExp(`^${name}/`));
    const run = cli(['elect', name, 'me', '--timeout', '300ms', '--', 'echo', 'ran']);
    expect(await run.exited).toBe(ExitCode.timedOut);
    expect(run.lines).toEqual([]);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([leaderKey]);
  });
});

describe('etcd-concurrency status', () => {
  given('localEtcdctl').it('lists the holder and every waiter in queue order, with lease, TTL, create revision and value; not longer names', async () => {
    const c = client();
    const name = uniqueName('cli');
    const holder = cli(['lock', name, '--ttl', '30', '--', ...holdUntilInput]);
    const [, holderKey, , token] = (await holder.line(/^held /)).split(' ');
    etcdctlProcess(['lock', name]);
    await waitForKeys(c, `${name}/`, 2);
    await etcdctl(['put', `${name}/sub/not-a-waiter`, 'x']);
    etcdctlProcess(['elect', name, 'proposal-value']);
    await waitForKeys(c, `${name}/`, 4);
    const queue = (await keysUnder(c, `${name}/`)).filter(([k]) => !k.includes('/sub/'));

    const table = cli(['status', name]);
    expect(await table.exited).toBe(0);
    expect(table.lines[0]).toBe(`"${name}": held by ${holderKey}, 2 waiters`);
    expect(table.lines[1]).toMatch(/^POS +ROLE +KEY +LEASE +TTL +CREATE-REV +VALUE$/);
    const rows = table.lines.slice(2).map(l => l.split(/ +/));
    expect(rows.map(r => [r[0], r[1], r[2], r[5]])).toEqual(
      queue.map(([key, rev], i) => [String(i), i === 0 ? 'holder' : 'waiter', key, String(rev)]),
    );
    expect(rows[0]![5]).toBe(token);
    expect(rows[0]![4]).toMatch(/^\d+s$/);
    expect(rows[2]![6]).toBe('proposal-value');

    const json = cli(['status', name, '--json']);
    expect(await json.exited).toBe(0);
    const parsed = JSON.parse(json.lines.join('\n')) as { key: string; lease: string; ttl: number; createRevision: string; value: string }[];
    expect(parsed.map(r => r.key)).toEqual(queue.map(([k]) => k));
    expect(parsed[0]!.lease).toBe(holderKey!.slice(name.length + 1));
    expect(parsed[0]!.ttl).toBeGreaterThan(0);
    expect(parsed[0]!.ttl).toBeLessThanOrEqual(30);
  });

  it('says when a lock is free', async () => {
    const name = uniqueName('cli');
    const run = cli(['status', name]);
    expect(await run.exited).toBe(0);
    expect(run.lines).toEqual([`"${name}" is free: no holder, no waiters.`]);
  });
});

describe('etcd-concurrency usage and errors', () => {
  it('prints help for the program and for each command', async () => {
    const general = cli(['--help']);
    expect(await general.exited).toBe(0);
    expect(general.lines.join('\n')).toMatch(/Commands:\n {2}lock/);
    const lock = cli(['lock', '--help']);
    expect(await lock.exited).toBe(0);
    expect(lock.lines[0]).toBe('Usage: etcd-concurrency lock <name> [-n N | --shared] [--max-hold DURATION] [options] [-- <command> [args...]]');
    expect(lock.lines.join('\n')).toMatch(/ETCD_LOCK_KEY/);
  });

  it.each([
    [['lock', 'x', '--bogus', '--', 'true'], /unknown option --bogus\nRun "etcd-concurrency lock --help"/],
    [['lock', 'x', 'echo', 'hi'], /unexpected argument "echo" for lock: put the command to run after "--"/],
    [['lock', 'x', '--ttl', '0', '--', 'true'], /--ttl must be a whole number of seconds ≥ 1. Got: "0"/],
    [['lock', 'x', '--timeout'], /option --timeout needs a value/],
    [['status', 'x', '--ttl', '5'], /status does not take --ttl/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['elect', 'x', '--', 'true'], /elect needs <name> <value>; missing <value>/],
  ])('rejects %j with the usage code and one clear message', async (args, message) => {
    const run = cli(args);
    expect(await run.exited).toBe(ExitCode.usage);
    expect(run.stderr()).toMatch(message);
    expect(run.stderr()).not.toMatch(/^\s+at /m);
  });

  it.each([
    ['lock', ['lock', 'x', '--', 'true']],
    ['status', ['status', 'x']],
  ])('%s fails with the unavailable code within --dial-timeout when no etcd answers', async (_, args) => {
    const started = performance.now();
    const run = cli(['--endpoints', 'http://127.0.0.1:1', '--dial-timeout', '1s', ...args]);
    expect(await run.exited).toBe(ExitCode.unavailable);
    // Generous bound: the dial timeout plus Node's and tsx's start-up on a loaded machine.
    expect(performance.now() - started).toBeLessThan(1000 + 10_000);
    expect(run.stderr()).toMatch(/etcd is unavailable: .*\(endpoints: http:\/\/127\.0\.0\.1:1;/);
    expect(run.stderr()).not.toMatch(/^\s+at /m);
  });
});
