import { EtcdConcurrencyError } from '../errors.js';
import { signalExitCode } from './exit-codes.js';

/** The CLI was asked to stop by a signal before its command started. */
export class InterruptedError extends EtcdConcurrencyError {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }

  /** The exit code a shell expects after this signal: 128 + its number. */
  get exitCode(): number {
    return signalExitCode(this.signal);
  }
}

/** The signals the CLI catches: they stop the wait, or are forwarded to the running command. */
export const TRAPPED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Catches SIGINT, SIGTERM and SIGHUP for the CLI's whole life, so that a signal never kills it
 * with a key left behind in etcd. While no command runs, the first signal aborts {@link signal}
 * (with an {@link InterruptedError}): waiting stops and our key is deleted. While a command runs,
 * each signal is handed to the forwarder instead.
 */
export class SignalTrap implements Disposable {
  private readonly controller = new AbortController();
  private forwarder: ((signal: NodeJS.Signals) => void) | undefined;
  private readonly handler = (signal: NodeJS.Signals): void => {
    if (this.forwarder) this.forwarder(signal);
    else if (!this.controller.signal.aborted) this.controller.abort(new InterruptedError(signal));
  };

  constructor() {
    for (const name of TRAPPED_SIGNALS) process.on(name, this.handler);
  }

  /** Aborts with an {@link InterruptedError} at the first signal that arrives while nothing is forwarded. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Sends every later signal to `forwarder` (until it is set to undefined). */
  forwardTo(forwarder: ((signal: NodeJS.Signals) => void) | undefined): void {
    this.forwarder = forwarder;
  }

  [Symbol.dispose](): void {
    for (const name of TRAPPED_SIGNALS) process.off(name, this.handler);
  }
}
