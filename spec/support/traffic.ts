import type { Namespace } from 'etcd3';
import { transportOf, type DuplexStream, type Endpoint } from '../../lib/etcd/internals.js';

/** What a client sends to etcd through the library's own transport, as {@link recordTraffic} sees it. */
export interface Traffic {
  /** Each unary call's method, in the order sent. */
  readonly unary: string[];
  /** Each unary call's request, in the order sent. */
  readonly requests: Record<string, unknown>[];
  /** Unary calls sent, by method. */
  readonly calls: Map<string, number>;
  /** Each request written on a stream (watch creations, progress requests, …). */
  readonly streamed: Record<string, unknown>[];
  /** Resolves once `count` reads (ranges, alone or in a read-only transaction) were answered since recording began. */
  answered(count: number): Promise<void>;
}

/** The ranges a call reads, if it only reads: 1 for a range, each range of a read-only transaction. */
function readsIn(method: string, request: unknown): number {
  if (method === 'range') return 1;
  if (method !== 'txn') return 0;
  const ops = (request as { success?: Record<string, unknown>[] }).success ?? [];
  return ops.every(op => 'request_range' in op) ? ops.length : 0;
}

/**
 * Records what `c` sends from now on, through the library's own transport: real etcd answers,
 * except the unary calls `fail` refuses with the error it returns.
 */
export function recordTraffic(c: Namespace, fail?: (method: string) => Error | undefined): Traffic {
  let reads = 0;
  const waiting: (() => void)[] = [];
  const traffic: Traffic = {
    unary: [],
    requests: [],
    calls: new Map(),
    streamed: [],
    answered: count =>
      new Promise(resolve => {
        const check = (): boolean => reads >= count && (resolve(), true);
        if (!check()) waiting.push(() => void check());
      }),
  };
  for (const endpoint of transportOf(c).endpoints as Endpoint[]) {
    const { unary, stream } = endpoint;
    Object.assign(endpoint, {
      unary: async (service: string, method: string, request: unknown, deadline: number) => {
        traffic.unary.push(method);
        traffic.requests.push(request as Record<string, unknown>);
        traffic.calls.set(method, (traffic.calls.get(method) ?? 0) + 1);
        const error = fail?.(method);
        if (error) throw error;
        const answer: unknown = await unary.call(endpoint, service as never, method, request, deadline);
        reads += readsIn(method, request);
        for (const wake of waiting) wake();
        return answer;
      },
      stream: async (service: string, method: string) => {
        const s: DuplexStream<unknown, unknown> = await stream.call(endpoint, service as never, method);
        const write = s.write.bind(s);
        s.write = (request: unknown) => {
          traffic.streamed.push(request as Record<string, unknown>);
          return write(request);
        };
        return s;
      },
    });
  }
  return traffic;
}
