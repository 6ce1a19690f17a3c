import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { client, keysUnder, uniqueName, waitForNoKeys } from '../support/etcd.js';
import { cli } from './run.js';

/** A shell command that reports SIGTERM and exits 5 on it; prints `ready <key>` when running. */
const exitOnTerm = ['sh', '-c', 'trap "echo got SIGTERM; exit 5" TERM; echo "ready $ETCD_LOCK_KEY"; while :; do sleep 0.05; done'];

/** Long enough that the command has started (a loaded machine takes seconds to start one) before the hold ends. */
const MAX_HOLD = '5s';

describe('etcd-concurrency lock --max-hold', () => {
  it.each([
    ['lock', []],
    ['lock -n 2', ['-n', '2']],
    ['lock --shared', ['--shared']],
  ])('%s: ends the hold while the command runs: SIGTERM to its group, exit 79, key gone', async (_, mode) => {
    const c = client();
    const name = uniqueName('cli-max');
    const run = cli(['lock', ...mode, name, '--max-hold', MAX_HOLD, '--', ...exitOnTerm]);
    expect(await run.line(/^ready /)).toMatch(new RegExp(`^ready ${name}/`));
    expect(await run.exited).toBe(ExitCode.holdExpired);
    expect(run.lines).toContain('got SIGTERM');
    expect(run.stderr()).toMatch(new RegExp(`reached the end of --max-hold \\(5000 ms\\); sending SIGTERM to the command, SIGKILL in 5000 ms`));
    expect(await keysUnder(c, `${name}/`)).toEqual([]);
  }, 60_000);

  it('the key goes at the end even while the command, ignoring SIGTERM, runs out its --grace', async () => {
    const c = client();
    const name = uniqueName('cli-max');
    const run = cli(['lock', name, '--max-hold', MAX_HOLD, '--grace', '1m', '--', 'sh', '-c', 'trap "echo ignoring SIGTERM" TERM; echo ready; while :; do sleep 0.05; done']);
    await run.line(/^ready$/);
    await run.line(/^ignoring SIGTERM$/);
    await waitForNoKeys(c, `${name}/`);
    expect(run.child.exitCode).toBeNull();
    // The command still runs (its grace is a minute): SIGINT is forwarded to its group and stops it.
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(ExitCode.holdExpired);
  }, 60_000);

  it('without a command: prints the key and token, and exits 79 at the end of the hold, key gone', async () => {
    const c = client();
    const name = uniqueName('cli-max');
    const run = cli(['lock', name, '--max-hold', '2s']);
    const key = await run.line(new RegExp(`^${name}/`));
    await run.line(/^\d+$/);
    expect(await run.exited).toBe(ExitCode.holdExpired);
    expect(run.errLines).toEqual([`etcd-concurrency: the lock "${name}" reached the end of --max-hold (2000 ms)`]);
    expect((await keysUnder(c, `${name}/`)).map(([k]) => k)).not.toContain(key);
  }, 60_000);

  it('a command that ends in time exits with its own code', async () => {
    const run = cli(['lock', '-n', '3', uniqueName('cli-max'), '--max-hold', '1m', '--', 'sh', '-c', 'exit 3']);
    expect(await run.exited).toBe(3);
    expect(run.stderr()).toBe('');
  }, 60_000);
});
