import { createInterface } from 'node:readline';

/** Sends one JSON line to the parent. */
export function emit(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}

/** Commands from the parent, one JSON object per stdin line; ends when the parent closes stdin. */
export async function* commands(): AsyncGenerator<Record<string, unknown>> {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim()) yield JSON.parse(line) as Record<string, unknown>;
  }
}

/** The endpoints the parent passed. */
export function endpoints(): string[] {
  const value = process.env.ETCD_ENDPOINTS;
  if (!value) throw new Error('ETCD_ENDPOINTS is not set');
  return value.split(',');
}

/**
 * Keeps a worker alive through an unhandled rejection (a bug in the code under test, reported on
 * stderr) so that the measurement it is part of can finish.
 */
export function survivePromiseBugs(): void {
  let count = 0;
  process.on('unhandledRejection', reason => {
    if (count++ === 0) process.stderr.write(`worker ${process.pid}: unhandled rejection: ${String(reason)}\n`);
  });
}
