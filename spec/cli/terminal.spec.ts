import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/cli/exit-codes.js';
import { defer, endpoints, etcdctl, uniqueName } from '../support/etcd.js';
import { CLI, cli, lineSource } from './run.js';

const has = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const noScript = !has('script') && 'needs `script` (util-linux) for a pseudo-terminal';
const noPerl = !has('perl') && 'needs perl: without it the command runs in a new session, with no terminal (documented)';

/** `'…'` for sh. */
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, tty, tpgid]. */
const stat = (pid: number): string[] | undefined => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  } catch {
    return undefined;
  }
};
const gone = (pid: number): boolean => {
  const fields = stat(pid);
  return fields === undefined || fields[0] === 'Z';
};

/**
 * Runs `shell` with `/bin/sh -c` in a session of its own whose controlling terminal is a
 * pseudo-terminal (`script`): as a user's shell runs the CLI in a terminal. Its lines have no `\r`.
 */
function inTerminal(shell: string) {
  const child = spawn('script', ['-qec', shell, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SHELL: '/bin/sh', ETCD_ENDPOINTS: endpoints().join(','), TERM: 'dumb' },
  });
  const exited = once(child, 'close').then(([code]) => code as number | null);
  const clean = new PassThrough();
  child.stdout.on('data', (d: Buffer) => clean.write(d.toString().replace(/\r/g, '')));
  child.stdout.on('close', () => clean.end());
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return { child, exited, out: lineSource(clean, exited) };
}

/** The CLI as a shell command line. */
const cliCommand = (args: string[]): string => [process.execPath, '--import', 'tsx', CLI, ...args].map(quote).join(' ');

/** sh: prints `<label> pid=… pgrp=… tpgid=…` for the shell itself (fields 5 and 8 of /proc/$$/stat). */
const whoHasTheTerminal = (label: string): string => `set -- $(cut -d" " -f5,8 /proc/$$/stat); echo "${label} pid=$$ pgrp=$1 tpgid=$2"`;

const fields = (line: string): Record<string, string> => Object.fromEntries(line.split(' ').slice(1).map(kv => kv.split('=') as [string, string]));

describe.skipIf(noScript || noPerl)('the supervised command and the terminal', () => {
  it('runs in its own process group that has the terminal: it can prompt on /dev/tty; the terminal comes back after', async () => {
    const name = uniqueName('cli-tty');
    const command = [whoHasTheTerminal('child'), 'echo "password?" >/dev/tty', 'read x </dev/tty', 'echo "got [$x]"', 'exit 3'].join('; ');
    const term = inTerminal(`${cliCommand(['lock', name, '--', 'sh', '-c', command])}; echo "cli exit $?"; ${whoHasTheTerminal('shell')}`);
    const child = fields(await term.out.first(/^child /));
    await term.out.first(/^password\?$/);
    term.child.stdin.write('hunter2\n');
    expect(await term.out.first(/^got /)).toBe('got [hunter2]');
    expect(await term.out.first(/^cli exit /)).toBe('cli exit 3');
    const shell = fields(await term.out.first(/^shell /));
    term.child.stdin.end();
    expect(await term.exited).toBe(0);

    expect(child.pgrp).toBe(child.pid); // a process group of its own
    expect(child.pgrp).not.toBe(shell.pgrp); // not the CLI's (the shell's) group
    expect(child.tpgid).toBe(child.pgrp); // with the terminal
    expect(shell.tpgid).toBe(shell.pgrp); // given back once the command ended
  });

  it('Ctrl-C in the terminal reaches the command, which exits with it; the lock is released', async () => {
    const name = uniqueName('cli-tty');
    const term = inTerminal(`${cliCommand(['lock', name, '--', 'sh', '-c', 'echo ready; while :; do sleep 0.05; done'])}; echo "cli exit $?"; ${whoHasTheTerminal('shell')}`);
    await term.out.first(/^ready$/);
    term.child.stdin.write('\x03');
    // The terminal echoes ^C on the same line.
    expect(await term.out.first(/cli exit \d+$/)).toMatch(new RegExp(`cli exit ${128 + 2}$`));
    const shell = fields(await term.out.first(/^shell /));
    expect(shell.tpgid).toBe(shell.pgrp);
    term.child.stdin.end();
    await term.exited;
    expect(await etcdctl(['get', '--prefix', `${name}/`, '--keys-only'])).toBe('');
  });
});

describe.skipIf(noPerl)('the supervised command\'s process group', () => {
  it('is killed as a whole on loss: a background child of the command does not outlive the lock', async () => {
    const name = uniqueName('cli-group');
    const script = 'sleep 300 & echo "bg $!"; trap "" TERM; echo "ready $ETCD_LEASE_ID"; while :; do sleep 0.05; done';
    const run = cli(['lock', name, '--grace', '200ms', '--', 'sh', '-c', script]);
    const bg = Number((await run.line(/^bg /)).split(' ')[1]);
    const lease = (await run.line(/^ready /)).split(' ')[1]!;
    expect(gone(bg)).toBe(false);
    expect(stat(bg)![2]).not.toBe(String(process.pid)); // its group is not ours
    await etcdctl(['lease', 'revoke', lease]);
    // exited waits for the CLI's stdout to close: the background sleep held it until it was killed.
    expect(await run.exited).toBe(ExitCode.lost);
    expect(gone(bg)).toBe(true);
  });
});
