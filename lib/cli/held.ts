import { Etcd3, type IRangeResponse } from 'etcd3';
import { OwnershipLostError } from '../errors.js';
import { callEtcd } from '../etcd/call.js';
import { Session } from '../session/session.js';
import { UsageError, parseDuration, parseSeconds, type CommandLine, type OptionSpecs } from './args.js';
import type { Io } from './command.js';
import { connectionFrom } from './connection.js';
import { SignalTrap } from './signals.js';
import { supervise } from './supervise.js';
import { ExitCode, commonExitCodes, type ExitCodeDoc } from './exit-codes.js';
import { holdEnd } from './loss.js';
import { reportProgress } from './progress.js';

/** Flags shared by `lock` and `elect`. */
export const holdingOptions = {
  ttl: {
    type: 'string',
    value: 'SECONDS',
    description: 'lease TTL, whole seconds (60, 1m): how long the key outlives this process if it dies (default: 10, as etcdctl)',
  },
  timeout: {
    type: 'string',
    value: 'DURATION',
    description: 'give up waiting after this long (1m30s, 500ms; a bare number is seconds); default: wait forever',
  },
  grace: {
    type: 'string',
    value: 'DURATION',
    description: 'after a loss, time between SIGTERM and SIGKILL to the command (default: 5s)',
  },
  verbose: {
    type: 'boolean',
    short: 'v',
    description: 'say on stderr what happens: the place in the queue while waiting (again at each change), the hold',
  },
} as const satisfies OptionSpecs;

/** The exit codes of `lock` and `elect` (`lock` for `the lock`, `elect` for `leadership`). */
export function holdingExitCodes(held: 'the lock' | 'leadership'): ExitCodeDoc[] {
  return [
    { code: '0-255', meaning: "with a command: the command's own exit code (128+N if signal N killed it)" },
    { code: String(ExitCode.ok), meaning: `without a command: ${held} was held, then released after SIGINT, SIGTERM or SIGHUP` },
    commonExitCodes.failure,
    commonExitCodes.usage,
    commonExitCodes.unavailable,
    {
      code: String(ExitCode.lost),
      meaning: `${held} was lost (lease expired or revoked, key deleted) while waiting or while held; a running command got SIGTERM, then SIGKILL after --grace`,
    },
    commonExitCodes.permissionDenied,
    { code: String(ExitCode.timedOut), meaning: '--timeout elapsed while waiting; the command did not run, our key is deleted' },
    { code: String(ExitCode.cannotExecute), meaning: 'the command could not be executed' },
    { code: String(ExitCode.notFound), meaning: 'the command was not found' },
    { code: '128+N', meaning: 'interrupted by signal N while waiting; the command did not run, our key is deleted' },
  ];
}

/** Something held in etcd: a lock, or a leadership. */
export interface Held {
  readonly key: string;
  readonly fencingToken: bigint;
  /** Aborts when the hold is lost (or released). */
  readonly signal: AbortSignal;
}

/** What {@link runHeld} acquires, and what it tells the program. */
export interface HoldingPlan<H extends Held> {
  /** `the lock "x"` or `the leadership of "x"`: for messages. */
  readonly what: string;
  /** The lock or election name. */
  readonly name: string;
  /** `holder` or `leader`: what `--verbose` calls the first in the queue. */
  readonly first: string;
  /** Waits for the hold; rejects with `signal.reason` or a `LockTimeoutError`. */
  acquire(session: Session, options: { signal: AbortSignal; timeout: number | undefined }): Promise<H>;
  /**
   * The variables the program gets on top of the CLI's environment. `revision` is the etcd
   * revision at which the hold was confirmed (read after acquiring).
   */
  environment(held: H, revision: string, session: Session): Record<string, string>;
  /** What stdout gets when there is no command to run, once held (first the key, as etcdctl prints it). */
  holdLines(held: H): string[];
  /**
   * Lets go of the hold before the session closes, when closing the session is not enough: a hold
   * bounded by `--max-hold` keeps its key on a lease of its own, which the session's close revokes
   * only in the background (and this process exits right after).
   */
  release?(held: H): Promise<void>;
}

/**
 * The body of `lock` and `elect`: connect, take a session, wait for the hold (saying where we are in
 * the queue with `--verbose`), then run the program while it lasts ({@link supervise}) or, without a
 * program, print {@link HoldingPlan.holdLines} and hold until a signal ({@link holdUntilSignal}).
 * Last, revoke the session's lease so no key is left behind. Resolves with the exit code; rejects
 * with typed errors (unavailable, timeout, interrupted, lost while waiting) that the CLI maps to
 * exit codes.
 */
export async function runHeld<H extends Held>(line: CommandLine, io: Io, command: string, plan: HoldingPlan<H>): Promise<number> {
  const program = line.program;
  if (program?.length === 0) {
    throw new UsageError(
      `${command} needs a command to run after "--", e.g. etcd-concurrency ${command} ${plan.name} -- echo hi (without "--", it holds until a signal)`,
      command,
    );
  }
  const connection = connectionFrom(line.values, io.env);
  const ttl = parseSeconds('ttl', stringFlag(line, 'ttl') ?? '10');
  const timeoutFlag = stringFlag(line, 'timeout');
  const timeout = timeoutFlag === undefined ? undefined : parseDuration('timeout', timeoutFlag);
  const grace = parseDuration('grace', stringFlag(line, 'grace') ?? '5s');
  const verbose = line.values.verbose === true ? io.err : undefined;

  using trap = new SignalTrap();
  const client = new Etcd3(connection.clientOptions);
  let session: Session | undefined;
  let held: H | undefined;
  try {
    session = await Session.create(client, { ttl, timeout: connection.dialTimeout, signal: trap.signal, callTimeout: connection.dialTimeout });
    verbose?.(`connected to ${connection.endpoints.join(',')}; lease ${session.leaseId}, TTL ${ttl} s`);
    const stopProgress = verbose && reportProgress(client, { name: plan.name, lease: session.lease, what: plan.what, first: plan.first, log: verbose });
    try {
      held = await plan.acquire(session, { signal: trap.signal, timeout });
    } finally {
      stopProgress?.();
    }
    const revision = await confirm(session, plan.name, held, trap.signal);
    verbose?.(`holding ${plan.what}: key ${held.key}, fencing token ${held.fencingToken}`);
    if (program === undefined) {
      for (const text of plan.holdLines(held)) io.out(text);
      return await holdUntilSignal(held, trap, plan.what, io.err);
    }
    return await supervise({
      program,
      env: { ...io.env, ...plan.environment(held, revision, session) },
      lost: held.signal,
      grace,
      trap,
      log: io.err,
      what: plan.what,
    });
  } finally {
    if (held && plan.release) {
      await bounded(plan.release(held), connection.dialTimeout).catch(() => {
        // etcd away: the hold's lease expires by itself, within --ttl.
      });
    }
    // Revoking the lease deletes our key (held or still waiting) in one call.
    if (session) await bounded(session.close(), connection.dialTimeout).catch((error: unknown) => {
      io.err(`could not revoke lease ${session?.leaseId} (${error instanceof Error ? error.message : String(error)}): etcd deletes its keys within ${ttl} s`);
    });
    client.close();
  }
}

/**
 * Holds until SIGINT, SIGTERM or SIGHUP ({@link ExitCode.ok}: the caller then releases), or until the
 * hold is lost ({@link ExitCode.lost}) or reaches the end of `--max-hold` ({@link ExitCode.holdExpired}),
 * said on stderr.
 */
async function holdUntilSignal(held: Held, trap: SignalTrap, what: string, log: (line: string) => void): Promise<number> {
  const ended = AbortSignal.any([held.signal, trap.signal]);
  if (!ended.aborted) await new Promise(resolve => ended.addEventListener('abort', resolve, { once: true }));
  if (trap.signal.aborted) return ExitCode.ok;
  const end = holdEnd(what, held.signal.reason);
  log(end.message);
  return end.exitCode;
}

/**
 * Reads our key back: proves the hold is still ours after acquiring, and yields the revision at which
 * it was (what `etcdctl lock` passes as `ETCD_LOCK_REV`: the revision its acquiring call saw).
 */
async function confirm(session: Session, name: string, held: Held, signal: AbortSignal): Promise<string> {
  const res = await callEtcd<IRangeResponse>(
    session.client,
    session.ctx,
    `read ${held.key}`,
    { service: 'KV', method: 'range', request: { key: Buffer.from(held.key) } },
    signal,
  );
  const kv = res.kvs[0];
  if (!kv || BigInt(kv.create_revision) !== held.fencingToken) {
    throw new OwnershipLostError(name, held.key, 'deleted');
  }
  return res.header.revision;
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A string flag's value, if given. */
export function stringFlag(line: CommandLine, name: string): string | undefined {
  const value = line.values[name];
  return typeof value === 'string' ? value : undefined;
}
