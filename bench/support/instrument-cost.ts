import type { MeterProvider } from '@opentelemetry/api';
import { OwnershipLostError, configureObservability } from '../../lib/index.js';
import { waitStarted } from '../../lib/observe/instrument.js';
import type { Ticket } from '../../lib/queue/ticket.js';
import { clock } from './clock.js';

/**
 * The instrumentation's own cost per lock cycle, in µs, without etcd: a wait started, acquired and
 * its hold released (the calls Mutex.lock() and unlock() make), minus the same loop without them.
 * Measured with `provider` configured, or with none (the API's no-ops).
 */
export function instrumentCost(provider: MeterProvider | undefined, cycles = 20_000): number {
  configureObservability({ meterProvider: provider });
  try {
    const released = new OwnershipLostError('bench', 'bench/1', 'released');
    const loop = (instrumented: boolean): number => {
      const start = clock();
      for (let i = 0; i < cycles; i++) {
        const controller = new AbortController();
        if (instrumented) {
          const ticket = { name: 'bench', key: 'bench/1', createRevision: 1n, signal: controller.signal, session: { leaseId: '1' } };
          waitStarted('mutex', 'bench', '1').acquired(ticket as unknown as Ticket);
        }
        controller.abort(released);
      }
      return ((clock() - start) * 1000) / cycles;
    };
    loop(true);
    loop(false);
    let best = Infinity;
    for (let round = 0; round < 5; round++) best = Math.min(best, loop(true) - loop(false));
    return Math.max(0, best);
  } finally {
    configureObservability({ meterProvider: undefined });
  }
}
