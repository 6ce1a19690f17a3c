import { setTimeout as sleepTimer } from 'node:timers/promises';

/** A signal that aborts when any parent signal does or a deadline passes; dispose it when done. */
export interface Scope {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * Combines optional parent signals with an optional timeout. The scope's signal aborts with the
 * first aborted parent's `reason`, or with `onTimeout()` when `timeout` ms pass. Already-aborted
 * parents abort it at once. The timer does not keep the process alive on its own.
 */
export function scope(
  parents: AbortSignal | undefined | (AbortSignal | undefined)[],
  timeout?: number,
  onTimeout: () => Error = () => new Error(`timed out after ${timeout} ms`),
): Scope {
  const controller = new AbortController();
  const signals = (Array.isArray(parents) ? parents : [parents]).filter(s => s !== undefined);
  const listeners = signals.map(parent => {
    const listener = (): void => controller.abort(parent.reason);
    if (parent.aborted) listener();
    else parent.addEventListener('abort', listener, { once: true });
    return listener;
  });
  let timer: NodeJS.Timeout | undefined;
  if (timeout !== undefined && !controller.signal.aborted) {
    timer = setTimeout(() => controller.abort(onTimeout()), timeout);
  }
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      signals.forEach((parent, i) => parent.removeEventListener('abort', listeners[i]!));
    },
  };
}

/**
 * Resolves or rejects with `promise`, or rejects with `signal.reason` as soon as the signal aborts.
 * A rejection of `promise` that comes after the abort is handled here (ignored), never left to
 * end the process as an unhandled rejection.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      value => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Waits `ms` without keeping the process alive. Resolves true when the time is up, false as soon
 * as `signal` aborts (never rejects): loops check their own state after it.
 */
export async function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await sleepTimer(ms, undefined, { ref: false, signal });
    return true;
  } catch {
    return false;
  }
}
