import { constants } from 'node:os';

/**
 * Exit codes of the `etcd-concurrency` CLI. When the command runs to its end, the CLI exits with
 * the command's own code (128 + N when the command was killed by signal N, as shells report it);
 * the codes below are the CLI's own outcomes. They follow `timeout(1)` and `sysexits.h` so scripts
 * can tell them apart from ordinary failures.
 */
export const ExitCode = {
  /**
   * The command succeeded; `status`, `--help` or `--version` did; without a command, the hold ended
   * by a signal; `elect --listen` was stopped by a signal.
   */
  ok: 0,
  /** An unexpected error. */
  failure: 1,
  /** A bad flag or argument (as shells and most CLIs report misuse). */
  usage: 2,
  /** etcd could not be reached within `--dial-timeout` (`EX_UNAVAILABLE`). */
  unavailable: 69,
  /**
   * The lock or leadership was lost (lease gone, key deleted) while waiting for it, or while holding
   * it: a running command's process group got SIGTERM, then SIGKILL after `--grace` (`EX_TEMPFAIL`:
   * try again later).
   */
  lost: 75,
  /** etcd refused for lack of permission (`EX_NOPERM`). */
  permissionDenied: 77,
  /**
   * `lock -n N`: an older participant on the name uses another N; the command never ran
   * (`EX_CONFIG`: the participants' configurations disagree).
   */
  permitsMismatch: 78,
  /**
   * `lock --max-hold`: the hold reached its end while held; a running command's process group got
   * SIGTERM, then SIGKILL after `--grace`. Not {@link lost}: retrying later does not help a command
   * that overruns its budget. (Outside `sysexits.h`, none of whose meanings fits.)
   */
  holdExpired: 79,
  /** `--timeout` elapsed while waiting for the lock or leadership; the command never ran (as `timeout(1)`). */
  timedOut: 124,
  /** The command was found but could not be executed (as shells report it). */
  cannotExecute: 126,
  /** The command was not found (as shells report it). */
  notFound: 127,
} as const;

/** The exit code a shell reports for a process killed by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** One row of a command's "Exit codes" help: the code (or a range such as `128+N`) and its meaning. */
export interface ExitCodeDoc {
  readonly code: string;
  readonly meaning: string;
}

/** The rows that more than one command shares, for their `exitCodes`. */
export const commonExitCodes = {
  failure: { code: String(ExitCode.failure), meaning: 'an unexpected error (one line on stderr)' },
  usage: { code: String(ExitCode.usage), meaning: 'bad flag or argument (one line on stderr, no stack trace)' },
  unavailable: { code: String(ExitCode.unavailable), meaning: 'etcd unreachable within --dial-timeout' },
  permissionDenied: { code: String(ExitCode.permissionDenied), meaning: 'permission denied by etcd' },
} as const satisfies Record<string, ExitCodeDoc>;
