import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Node can start a child in a new process group only by starting it in a new session (`detached`:
 * setsid), which takes away its controlling terminal: `/dev/tty` cannot be opened, so sudo, ssh and
 * git cannot prompt. This tiny Perl program (perl-base is part of every Debian and Ubuntu, and of
 * macOS) does what a shell does for a foreground job instead, then execs the command:
 *
 * 1. `setpgid(0, 0)`: a process group of its own, in our session, so the terminal stays its own;
 * 2. if our group has the terminal (we are a foreground job), `tcsetpgrp` hands it to the new group,
 *    so the command can read it (no SIGTTIN) and gets Ctrl-C itself; SIGTSTP is then ignored, so
 *    Ctrl-Z cannot stop a lock holder with the terminal out of its shell's reach;
 * 3. reports on fd 3 (`fg` or `bg`), then execs the command; fd 3 is close-on-exec, so its end of
 *    file means the exec worked, and an `error <errno> <message>` line that it did not.
 */
const LAUNCHER = String.raw`
use strict; use POSIX ();
open(my $status, '>&=', 3) or die "fd 3: $!";
my $mode = 'bg';
POSIX::setpgid(0, 0) or die "setpgid: $!";
if (open(my $tty, '+<', '/dev/tty')) {
  my $fg = POSIX::tcgetpgrp(fileno $tty);
  if (defined $fg && $fg == getpgrp(getppid())) {
    local $SIG{TTOU} = 'IGNORE';
    $mode = 'fg' if POSIX::tcsetpgrp(fileno $tty, $$);
  }
  close $tty;
}
$SIG{TSTP} = 'IGNORE' if $mode eq 'fg';
syswrite $status, "$mode\n";
fcntl($status, POSIX::F_SETFD(), POSIX::FD_CLOEXEC());
exec { $ARGV[0] } @ARGV;
syswrite $status, 'error ' . ($! + 0) . " $!\n";
POSIX::_exit(127);
`;

/** Gives the terminal back to this process's group (we are then in the background: SIGTTOU ignored). */
const RECLAIM = String.raw`
use POSIX (); $SIG{TTOU} = 'IGNORE';
open(my $tty, '+<', '/dev/tty') or exit 0;
POSIX::tcsetpgrp(fileno $tty, getpgrp(0));
`;

/** A command started in a process group of its own. */
export interface GroupChild {
  readonly child: ChildProcess;
  /**
   * Resolves once the command runs (`error` undefined) or could not be started (`error` set:
   * `ENOENT` when it was not found). `foreground` says whether its group got the terminal.
   */
  readonly started: Promise<{ foreground: boolean; error?: { code: string; message: string } }>;
  /** Gives the terminal back to the CLI's group if the command's group got it; call after it ended. */
  reclaimTerminal(): void;
}

/**
 * Starts `program` in a process group of its own whose id is its pid, keeping our session (and so
 * the terminal) when `perl` is on the PATH; without perl, in a new session as before (`detached`), so
 * the command cannot open `/dev/tty`.
 */
export function startInGroup(program: readonly string[], env: NodeJS.ProcessEnv): GroupChild {
  const [file, ...args] = program as [string, ...string[]];
  const perl = findOnPath('perl', env.PATH);
  if (perl === undefined) {
    const child = spawn(file, args, { stdio: 'inherit', env, detached: true });
    const started = new Promise<{ foreground: boolean; error?: { code: string; message: string } }>(resolve => {
      child.once('spawn', () => resolve({ foreground: false }));
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (child.pid === undefined) resolve({ foreground: false, error: { code: error.code ?? 'EUNKNOWN', message: error.message } });
      });
    });
    return { child, started, reclaimTerminal: () => undefined };
  }
  const child = spawn(perl, ['-e', LAUNCHER, '--', file, ...args], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env });
  let foreground = false;
  const started = readAll(child.stdio[3] as Readable).then(report => {
    const [mode, ...rest] = report.split('\n');
    foreground = mode === 'fg';
    const failure = /^error (\d+) (.*)$/.exec(rest.join('\n').trim());
    if (!failure) return { foreground };
    const errno = Number(failure[1]);
    const code = Object.entries(os.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
    return { foreground, error: { code, message: failure[2]! } };
  });
  const reclaimTerminal = (): void => {
    if (!foreground) return;
    foreground = false;
    spawnSync(perl, ['-e', RECLAIM], { stdio: 'ignore', env });
  };
  return { child, started, reclaimTerminal };
}

function readAll(stream: Readable): Promise<string> {
  return new Promise(resolve => {
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    stream.once('close', () => resolve(text));
    stream.once('error', () => resolve(text));
  });
}

function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fs.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
