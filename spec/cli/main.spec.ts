import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../lib/cli/command.js';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { commands, main } from '../../lib/cli/main.js';

/** Runs the CLI in this process, on flags that never reach etcd; returns its exit code and output. */
async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  const io: Io = { out: line => out.push(line), err: line => (err += `${line}\n`), env: {} };
  const code = await main(argv, io);
  return { code, out, err };
}

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('etcd-concurrency --version', () => {
  it.each([[['--version']], [['lock', '--version']], [['lock', 'x', '--version', '--', 'false']], [['elect', '--version']], [['status', '--version']], [['--version', 'status', 'x', '--json']]])(
    '%j prints the version and exits 0',
    async argv => {
      expect(await run(argv)).toEqual({ code: ExitCode.ok, out: [version], err: '' });
    },
  );

  it('after "--" belongs to the command to run', async () => {
    const { code, err } = await run(['lock', 'x', '--ttl', '0', '--', 'tool', '--version']);
    expect(code).toBe(ExitCode.usage);
    expect(err).toMatch(/--ttl must be/);
  });
});

describe('etcd-concurrency <command> --help', () => {
  it.each(commands.map(c => [c.name, c] as const))('%s lists every exit code it can return, with its meaning', async (name, command) => {
    const { code, out } = await run([name, '--help']);
    expect(code).toBe(ExitCode.ok);
    const block = out.slice(out.indexOf('Exit codes:') + 1);
    expect(block.length).toBe(command.exitCodes.length);
    for (const [i, row] of command.exitCodes.entries()) expect(block[i]).toMatch(new RegExp(`^ {2}${row.code.replace('+', '\\+')} +${row.meaning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('shows the codes a command can return, not the others', async () => {
    const lock = (await run(['help', 'lock'])).out.join('\n');
    for (const code of ['0', '2', '69', '75', '77', '124', '126', '127', '128\\+N']) expect(lock).toMatch(new RegExp(`^ {2}${code} `, 'm'));
    expect(lock).toMatch(/^ {2}75 +the lock was lost .*while waiting or while held/m);
    expect(lock).toMatch(/^ {2}78 +-n: another participant on <name> uses another N; the command did not run/m);
    expect(lock).toMatch(/^ {2}79 +--max-hold: the hold reached its end; a running command got SIGTERM/m);
    expect(lock).toMatch(/^ {6}--max-hold DURATION +end the hold this long after it was granted/m);
    const status = (await run(['status', '--help'])).out.join('\n');
    for (const code of ['0', '1', '2', '69', '77']) expect(status).toMatch(new RegExp(`^ {2}${code} `, 'm'));
    for (const code of ['75', '78', '79', '124', '127']) expect(status).not.toMatch(new RegExp(`^ {2}${code} `, 'm'));
    expect(status).toMatch(/position, role, key, lease, ttl, createRevision, value\} per key \(and mode or weight/);
    expect(status).toMatch(/mutex \(default\), election, rwlock .* or semaphore/);
    const elect = (await run(['elect', '-h'])).out.join('\n');
    expect(elect).toMatch(/^ {2}0 +with --listen: stopped by SIGINT, SIGTERM or SIGHUP$/m);
  });
});

describe('etcd-concurrency usage errors', () => {
  it.each([
    [['lock', 'x', '--timeout', '5x', '--', 'true'], '--timeout must be a duration such as 90s, 1m30s, 500ms, 2.5s or 1h (a bare number is seconds). Got: "5x"'],
    [['lock', 'x', '--grace=-1s', '--', 'true'], '--grace must be a duration such as 90s, 1m30s, 500ms, 2.5s or 1h (a bare number is seconds). Got: "-1s"'],
    [['status', 'x', '--dial-timeout', '1fortnight'], '--dial-timeout must be a duration such as 90s, 1m30s, 500ms, 2.5s or 1h (a bare number is seconds). Got: "1fortnight"'],
    [['elect', '--listen', 'x', '--dial-timeout', '0'], '--dial-timeout must be longer than 0. Got: "0"'],
    [['lock', 'x', '--ttl', '1500ms', '--', 'true'], '--ttl must be a whole number of seconds ≥ 1. Got: "1500ms"'],
    [['lock', 'x', '--'], 'lock needs a command to run after "--"'],
    [['lock', 'x', '-l'], 'lock does not take -l'],
    [['status', 'x', '-v'], 'status does not take -v'],
    [['elect', '--listen', 'x', '--timeout', '1s'], 'elect --listen does not take --timeout'],
    [['elect', '-l', 'x', '--', 'true'], 'elect --listen runs no command'],
    [['elect', '-l', 'x', 'y'], 'unexpected argument "y" for elect --listen'],
    [['lock', 'x', '-n', '2', '--shared', '--', 'true'], 'lock takes either -n (a semaphore) or --shared (a read lock), not both'],
    [['lock', 'x', '--permits=0', '--', 'true'], '-n (--permits) must be a whole number ≥ 1. Got: "0"'],
    [['lock', 'x', '-n', '1.5'], '-n (--permits) must be a whole number ≥ 1. Got: "1.5"'],
    [['lock', 'x', '--max-hold', '0s', '--', 'true'], '--max-hold must be longer than 0 and at most 24 days. Got: "0s"'],
    [['lock', 'x', '--max-hold', 'soon'], '--max-hold must be a duration such as 90s'],
    [['elect', 'x', 'v', '-n', '2'], 'elect does not take -n'],
    [['elect', 'x', 'v', '--max-hold', '1s'], 'elect does not take --max-hold'],
  ])('%j: exit 2 and the message', async (argv, message) => {
    const { code, err, out } = await run(argv);
    expect(code).toBe(ExitCode.usage);
    expect(err).toContain(message);
    expect(out).toEqual([]);
  });
});
