import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { client, etcdctl, etcdctlProcess, keysUnder, lineMatching, uniqueName, waitForKeys, waitForNoKeys } from '../support/etcd.js';
import { cli, lineSource } from './run.js';

/** The lease (hex) of a lock or election key `<name>/<lease>`. */
const leaseOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

describe('etcd-concurrency lock without a command', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('prints the key, then the fencing token, holds until %s, releases and exits 0', async signal => {
    const c = client();
    const name = uniqueName('cli-hold');
    const run = cli(['lock', name]);
    const key = await run.line(new RegExp(`^${name}/`));
    const token = await run.line(/^\d+$/);
    expect(run.lines).toEqual([key, token]);
    expect(await keysUnder(c, `${name}/`)).toEqual([[key, BigInt(token)]]);

    // Held: etcdctl queues behind it, and gets the lock once the CLI is interrupted.
    const next = etcdctlProcess(['lock', name]);
    await waitForKeys(c, `${name}/`, 2);
    run.child.kill(signal);
    expect(await run.exited).toBe(ExitCode.ok);
    expect(await lineMatching(next, new RegExp(`^${name}/`))).not.toBe(key);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).not.toContain(key);
    expect(run.stderr()).toBe('');
  });

  it('exits with the lost code when the lock is lost while held', async () => {
    const name = uniqueName('cli-hold');
    const run = cli(['lock', name]);
    const key = await run.line(new RegExp(`^${name}/`));
    await etcdctl(['lease', 'revoke', leaseOf(key)]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.stderr()).toMatch(new RegExp(`lost the lock "${name}"`));
  });
});

describe('etcd-concurrency lock, lost while waiting', () => {
  it('exits with the lost code when its key goes while it waits; the command never runs', async () => {
    const c = client();
    const name = uniqueName('cli-lost');
    const holder = etcdctlProcess(['lock', name]);
    await lineMatching(holder, new RegExp(`^${name}/`));
    const run = cli(['lock', name, '--', 'echo', 'ran']);
    const [, [waiterKey]] = (await waitForKeys(c, `${name}/`, 2)) as [unknown, [string, bigint]];
    await etcdctl(['lease', 'revoke', leaseOf(waiterKey)]);
    expect(await run.exited).toBe(ExitCode.lost);
    expect(run.lines).toEqual([]);
    expect(run.stderr()).toMatch(/lost while waiting/);
  });
});

describe('etcd-concurrency --verbose', () => {
  it('says on stderr how many are ahead and who holds, again at each change, then that it holds', async () => {
    const c = client();
    const name = uniqueName('cli-verbose');
    const first = etcdctlProcess(['lock', name]);
    const firstKey = await lineMatching(first, new RegExp(`^${name}/`));
    const second = etcdctlProcess(['lock', name]);
    const [, [secondKey]] = (await waitForKeys(c, `${name}/`, 2)) as [unknown, [string, bigint]];
    const run = cli(['lock', name, '--verbose', '--', 'sh', '-c', 'echo "ran $ETCD_LOCK_KEY"']);
    await run.errLine(new RegExp(`waiting for the lock "${name}": 2 ahead, holder ${firstKey}$`));

    first.kill('SIGINT');
    await lineMatching(second, new RegExp(`^${name}/`));
    await run.errLine(new RegExp(`waiting for the lock "${name}": 1 ahead, holder ${secondKey}$`));

    second.kill('SIGINT');
    const ran = await run.line(/^ran /);
    expect(await run.exited).toBe(0);
    const key = ran.slice('ran '.length);
    const progress = run.errLines.filter(l => l.includes(' ahead, '));
    expect(progress).toEqual([
      `etcd-concurrency: waiting for the lock "${name}": 2 ahead, holder ${firstKey}`,
      `etcd-concurrency: waiting for the lock "${name}": 1 ahead, holder ${secondKey}`,
    ]);
    expect(run.stderr()).toMatch(new RegExp(`holding the lock "${name}": key ${key}, fencing token \\d+`));
  });

  it('is off by default: a normal run leaves stderr empty (no progress, no Node warning)', async () => {
    const c = client();
    const name = uniqueName('cli-quiet');
    const holder = etcdctlProcess(['lock', name]);
    await lineMatching(holder, new RegExp(`^${name}/`));
    const run = cli(['lock', name, '--', 'echo', 'ran']);
    await waitForKeys(c, `${name}/`, 2);
    holder.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.lines).toEqual(['ran']);
    expect(run.stderr()).toBe('');
  });
});

describe('etcd-concurrency elect without a command, and elect --listen', () => {
  it('--listen prints each leader\'s key and value as `etcdctl elect -l` does, nothing for no leader, until a signal', async () => {
    const c = client();
    const name = uniqueName('cli-listen');
    const incumbent = etcdctlProcess(['elect', name, 'first-value']);
    const firstKey = await lineMatching(incumbent, new RegExp(`^${name}/`));
    const listener = cli(['elect', '--listen', name, '--verbose']);
    const reference = etcdctlProcess(['elect', '-l', name]);
    const referenceOut = lineSource(reference.stdout!, once(reference, 'close'));
    await listener.line(/^first-value$/);
    await referenceOut.first(/^first-value$/);

    // A CLI candidate without a command: prints its key and value once it leads, as etcdctl elect.
    const candidate = cli(['elect', name, 'second-value']);
    await waitForKeys(c, `${name}/`, 2);
    incumbent.kill('SIGINT');
    const secondKey = await candidate.line(new RegExp(`^${name}/`));
    expect(await candidate.line(/^second-value$/)).toBe('second-value');
    await listener.line(/^second-value$/);
    await referenceOut.first(/^second-value$/);

    candidate.child.kill('SIGTERM');
    expect(await candidate.exited).toBe(ExitCode.ok);
    await waitForNoKeys(c, `${name}/`);
    await listener.errLine(new RegExp(`no leader of "${name}"`));

    listener.child.kill('SIGINT');
    expect(await listener.exited).toBe(ExitCode.ok);
    expect(listener.lines).toEqual([firstKey, 'first-value', secondKey, 'second-value']);
    reference.kill('SIGINT');
    await once(reference, 'exit');
    expect(referenceOut.lines).toEqual(listener.lines);
  });

  it('-l is --listen; with no leader at first it prints nothing until one is elected', async () => {
    const name = uniqueName('cli-listen');
    const listener = cli(['elect', '-l', name, '--verbose']);
    await listener.errLine(new RegExp(`no leader of "${name}"`));
    expect(listener.lines).toEqual([]);
    const leader = etcdctlProcess(['elect', name, 'v1']);
    const key = await lineMatching(leader, new RegExp(`^${name}/`));
    await listener.line(/^v1$/);
    listener.child.kill('SIGTERM');
    expect(await listener.exited).toBe(ExitCode.ok);
    expect(listener.lines).toEqual([key, 'v1']);
  });
});
