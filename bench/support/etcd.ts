import type { Etcd3 } from 'etcd3';
import { sleep } from './clock.js';
import { watchers } from './metrics.js';

/**
 * Resolves once at least `count` keys exist under `prefix`: watches first, then counts, so no
 * creation is missed.
 */
export async function waitForKeys(client: Etcd3, prefix: string, count: number): Promise<void> {
  const watcher = await client.watch().prefix(prefix).create();
  try {
    for (;;) {
      const changed = new Promise(resolve => watcher.once('data', resolve));
      if ((await client.getAll().prefix(prefix).count()) >= count) return;
      await changed;
    }
  } finally {
    await watcher.cancel();
  }
}

/**
 * Resolves once etcd reports at least `count` watchers (summed over members), or after
 * `timeoutMs`. Returns whether the count was reached. etcd has no event for this, so it polls
 * the metrics every 20 ms.
 */
export async function waitForWatchers(metricsUrls: readonly string[], count: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await watchers(metricsUrls)) >= count) return true;
    await sleep(20);
  }
  return false;
}
