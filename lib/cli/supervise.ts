import { ExitCode, signalExitCode } from './exit-codes.js';
import { holdEnd } from './loss.js';
import { startInGroup } from './process-group.js';
import type { SignalTrap } from './signals.js';

/** What {@link supervise} runs, and what stops it. */
export interface SuperviseOptions {
  /** The program and its arguments. */
  readonly program: readonly string[];
  /** The program's whole environment. */
  readonly env: NodeJS.ProcessEnv;
  /** Aborts when the lock or leadership is lost, or its `--max-hold` ends: the program's process group is stopped. */
  readonly lost: AbortSignal;
  /** ms between SIGTERM and SIGKILL after a loss. */
  readonly grace: number;
  /** Signals the CLI receives while the program runs are forwarded to its process group. */
  readonly trap: SignalTrap;
  /** Where the CLI reports what it does (stderr). */
  readonly log: (line: string) => void;
  /** Describes what was lost, for the log: e.g. `the lock "jobs/nightly"`. */
  readonly what: string;
}

/**
 * Runs a program in its own process group while ownership lasts, and resolves with the exit code
 * the CLI should exit with:
 * - the program's own code (128 + N if signal N killed it) when it ends by itself or after a
 *   forwarded SIGINT / SIGTERM / SIGHUP;
 * - {@link ExitCode.lost} when `lost` aborted (or {@link ExitCode.holdExpired} when its reason is the
 *   end of `--max-hold`): the group got SIGTERM, then SIGKILL after `grace` ms;
 * - {@link ExitCode.notFound} / {@link ExitCode.cannotExecute} when it could not be started.
 *
 * The program gets its own process group so that a loss stops everything it started (a shell
 * pipeline, workers), not only its first process. The group stays in our session and gets the
 * terminal when we have it ({@link startInGroup}), so the program can prompt on `/dev/tty`; the
 * terminal comes back to us when it ends.
 */
export function supervise(options: SuperviseOptions): Promise<number> {
  const { program, lost, grace, trap, log, what } = options;
  if (lost.aborted) {
    const end = holdEnd(what, lost.reason);
    log(`${end.message}, before the command started`);
    return Promise.resolve(end.exitCode);
  }
  const file = program[0]!;
  const { child, started, reclaimTerminal } = startInGroup(program, options.env);

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: nobody is left in the group, or the launcher has not made it yet: signal the launcher.
      try {
        process.kill(child.pid, signal);
      } catch {
        // gone
      }
    }
  };

  return new Promise<number>(resolve => {
    let lostAt: number | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let done = false;
    const onLost = (): void => {
      lostAt = Date.now();
      log(`${holdEnd(what, lost.reason).message}; sending SIGTERM to the command, SIGKILL in ${grace} ms`);
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => {
        log(`the command did not stop within ${grace} ms: sending SIGKILL`);
        signalGroup('SIGKILL');
      }, grace);
    };
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(killTimer);
      lost.removeEventListener('abort', onLost);
      trap.forwardTo(undefined);
      if (lostAt !== undefined) {
        // Whatever the command left in its group must not outlive the lock either.
        signalGroup('SIGKILL');
        resolve(holdEnd(what, lost.reason).exitCode);
      } else {
        resolve(code);
      }
    };

    // A failed start is reported through `started` (and 'close' follows); only keep 'error' from throwing.
    child.on('error', () => undefined);
    child.once('spawn', () => {
      trap.forwardTo(signalGroup);
      if (lost.aborted) onLost();
      else lost.addEventListener('abort', onLost, { once: true });
    });
    // 'close' comes after 'exit' and after the launcher's report (its pipe closes at the exec).
    child.once('close', (code, signal) => {
      void started.then(({ error }) => {
        reclaimTerminal();
        if (error) {
          log(`cannot run ${JSON.stringify(file)}: ${error.code === 'ENOENT' ? 'command not found' : error.message}`);
          finish(error.code === 'ENOENT' ? ExitCode.notFound : ExitCode.cannotExecute);
        } else {
          finish(signal ? signalExitCode(signal) : code === null || code < 0 ? ExitCode.cannotExecute : code);
        }
      });
    });
  });
}
