import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import type { QueueRow } from '../../lib/cli/status.js';
import { client, keysUnder, uniqueName, waitForKeys } from '../support/etcd.js';
import { cli } from './run.js';

/** A shell command that prints `held <key>` once it runs, then waits for a line on stdin. */
const holdUntilInput = ['sh', '-c', 'echo "held $ETCD_LOCK_KEY"; read x; exit 0'];

/** Runs `status` and resolves with its stdout lines (it must exit 0). */
async function status(args: string[]): Promise<string[]> {
  const run = cli(['status', ...args]);
  expect(await run.exited).toBe(ExitCode.ok);
  return run.lines;
}

/** `status --json` rows of `name` read as `kind`. */
async function rows(name: string, kind: string): Promise<QueueRow[]> {
  return JSON.parse((await status([name, '--kind', kind, '--json'])).join('\n')) as QueueRow[];
}

const heldKey = (line: string): string => line.slice('held '.length);

/** These tests start up to seven CLIs one after another (each a Node process through tsx). */
const SLOW = 90_000;

describe('etcd-concurrency lock -n N', () => {
  it('lets N commands hold at once, queues the next, and status --kind semaphore shows the N holders', async () => {
    const c = client();
    const name = uniqueName('cli-sem');
    const first = cli(['lock', '-n', '2', name, '--', ...holdUntilInput]);
    const second = cli(['lock', name, '--permits', '2', '--', ...holdUntilInput]);
    const keys = [heldKey(await first.line(/^held /)), heldKey(await second.line(/^held /))];
    const third = cli(['lock', '-n', '2', name, '--', 'echo', 'ran']);
    await waitForKeys(c, `${name}/`, 3);

    const [queue, table] = await Promise.all([rows(name, 'semaphore'), status([name, '--kind', 'semaphore'])]);
    expect(queue.map(r => [r.role, r.weight])).toEqual([['holder', 1], ['holder', 1], ['waiter', 1]]);
    expect(queue.slice(0, 2).map(r => r.key).sort()).toEqual([...keys].sort());
    expect(table[0]).toMatch(new RegExp(`^"${name}": held by ${name}/\\S+, ${name}/\\S+, 1 waiter$`));
    expect(table[1]).toMatch(/^POS +ROLE +WEIGHT +KEY /);
    expect(third.lines).toEqual([]);

    first.child.stdin!.end('\n');
    expect(await first.exited).toBe(0);
    expect(await third.exited).toBe(0);
    expect(third.lines).toEqual(['ran']);
    second.child.stdin!.end('\n');
    expect(await second.exited).toBe(0);
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  }, SLOW);

  it('refuses a participant with another N: one line on stderr, its own exit code, the command never runs', async () => {
    const c = client();
    const name = uniqueName('cli-sem');
    const holder = cli(['lock', '-n', '2', name]);
    const key = await holder.line(new RegExp(`^${name}/`));
    const other = cli(['lock', '-n', '3', name, '--', 'echo', 'ran']);
    expect(await other.exited).toBe(ExitCode.permitsMismatch);
    expect(other.lines).toEqual([]);
    expect(other.errLines).toEqual([
      `etcd-concurrency: Semaphore "${name}" has 2 permits (key ${key}), not 3: every participant must use the same number; the command did not run`,
    ]);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).toEqual([key]);
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toBe(ExitCode.ok);
  }, SLOW);
});

describe('etcd-concurrency lock --shared', () => {
  it('readers hold together, a plain lock is a writer that waits for them, and a later reader waits for the writer', async () => {
    const c = client();
    const name = uniqueName('cli-rw');
    const readers = [cli(['lock', '--shared', name, '--', ...holdUntilInput]), cli(['lock', name, '--shared', '--', ...holdUntilInput])];
    const keys = await Promise.all(readers.map(async r => heldKey(await r.line(/^held /))));
    for (const key of keys) expect(key).toMatch(new RegExp(`^${name}/[0-9a-f]+\\.read$`));

    const writer = cli(['lock', name, '--', 'sh', '-c', 'echo "wrote $ETCD_LOCK_KEY"; read x']);
    await waitForKeys(c, `${name}/`, 3);
    const late = cli(['lock', '--shared', name, '--', 'echo', 'read late']);
    await waitForKeys(c, `${name}/`, 4);

    const [queue, table] = await Promise.all([rows(name, 'rwlock'), status([name, '--kind', 'rwlock'])]);
    expect(queue.map(r => [r.role, r.mode])).toEqual([
      ['holder', 'read'],
      ['holder', 'read'],
      ['waiter', 'write'],
      ['waiter', 'read'],
    ]);
    expect(queue.slice(0, 2).map(r => r.key).sort()).toEqual([...keys].sort());
    expect(table[0]).toMatch(new RegExp(`^"${name}": held by ${name}/\\S+\\.read, ${name}/\\S+\\.read, 2 waiters$`));
    expect(table[1]).toMatch(/^POS +ROLE +MODE +KEY /);
    expect(writer.lines).toEqual([]);

    readers[0]!.child.stdin!.end('\n');
    expect(await readers[0]!.exited).toBe(0);
    expect(writer.lines).toEqual([]); // one reader still holds
    readers[1]!.child.stdin!.end('\n');
    expect(await readers[1]!.exited).toBe(0);
    const wrote = await writer.line(/^wrote /);
    expect(wrote).toMatch(new RegExp(`^wrote ${name}/[0-9a-f]+$`));
    expect(late.lines).toEqual([]); // the writer holds
    writer.child.stdin!.end('\n');
    expect(await writer.exited).toBe(0);
    expect(await late.exited).toBe(0);
    expect(late.lines).toEqual(['read late']);
  }, SLOW);
});
