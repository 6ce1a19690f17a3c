import { Mutex, RWMutex, Semaphore, type Lock, type Session } from '../index.js';
import { UsageError, parseDuration, type CommandLine, type OptionSpecs } from './args.js';
import { stringFlag } from './held.js';

/** `lock`'s own flags, on top of the ones it shares with `elect`. */
export const lockModeOptions = {
  permits: {
    type: 'string',
    short: 'n',
    value: 'N',
    description: 'take one of N permits of a semaphore instead of the lock: up to N holders at once (as consul lock -n); everyone on <name> must use the same N',
  },
  shared: {
    type: 'boolean',
    description: 'take a read lock: others with --shared hold it with us; a plain lock on <name> is a writer and excludes us (and we it)',
  },
  'max-hold': {
    type: 'string',
    value: 'DURATION',
    description: 'end the hold this long after it was granted, even if the command still runs: SIGTERM, then SIGKILL after --grace (exit 79)',
  },
} as const satisfies OptionSpecs;

/** How `lock` holds `<name>`, read from its flags. */
export interface LockMode {
  /** For messages: `the lock "x"`, `the read lock "x"` or `a permit of "x"`. */
  readonly what: string;
  /** What `status --kind` reads the name as. */
  readonly kind: 'mutex' | 'rwlock' | 'semaphore';
  /** Waits for the hold; rejects with `signal.reason`, a `LockTimeoutError` or a `PermitsMismatchError`. */
  acquire(session: Session, options: { signal: AbortSignal; timeout: number | undefined }): Promise<Lock>;
}

/**
 * Reads `-n`, `--shared` and `--max-hold`: a {@link Semaphore} permit, an {@link RWMutex} read lock,
 * or (neither) a {@link Mutex}, which an `RWMutex` counts as a writer and a `Semaphore` as taking
 * every permit.
 *
 * @throws {UsageError} `-n` with `--shared`, or a bad `-n` or `--max-hold`.
 */
export function lockModeOf(line: CommandLine, name: string): LockMode {
  const permitsText = stringFlag(line, 'permits');
  const shared = line.values.shared === true;
  const maxHoldText = stringFlag(line, 'max-hold');
  const maxHold = maxHoldText === undefined ? undefined : parseMaxHold(maxHoldText);
  if (permitsText !== undefined && shared) {
    throw new UsageError('lock takes either -n (a semaphore) or --shared (a read lock), not both', 'lock');
  }
  if (permitsText !== undefined) {
    const permits = parsePermits(permitsText);
    return {
      what: `a permit of "${name}"`,
      kind: 'semaphore',
      acquire: (session, options) => new Semaphore(session, name, { permits }).acquire({ ...options, maxHold }),
    };
  }
  if (shared) {
    return { what: `the read lock "${name}"`, kind: 'rwlock', acquire: (session, options) => new RWMutex(session, name).readLock({ ...options, maxHold }) };
  }
  return { what: `the lock "${name}"`, kind: 'mutex', acquire: (session, options) => new Mutex(session, name).lock({ ...options, maxHold }) };
}

function parsePermits(text: string): number {
  const permits = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(permits) || permits < 1) {
    throw new UsageError(`-n (--permits) must be a whole number ≥ 1. Got: ${JSON.stringify(text)}`, 'lock');
  }
  return permits;
}

/** The most a timer can wait, and so the longest hold. */
const MAX_HOLD_MS = 2 ** 31 - 1;

function parseMaxHold(text: string): number {
  const ms = parseDuration('max-hold', text);
  if (ms < 1 || ms > MAX_HOLD_MS) {
    throw new UsageError(`--max-hold must be longer than 0 and at most 24 days. Got: ${JSON.stringify(text)}`, 'lock');
  }
  return ms;
}
