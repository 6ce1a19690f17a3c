import type { Etcd3 } from 'etcd3';
import { clock, sleep } from './clock.js';
import { scrape, total, watchers } from './metrics.js';

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
    // A scrape can fail while a busy process or member answers slowly: try again.
    if ((await watchers(metricsUrls).catch(() => -1)) >= count) return true;
    await sleep(20);
  }
  return false;
}

/**
 * Resolves once etcd's watch traffic has stopped: no watch request arrived for 200 ms. Returns the
 * monotonic time the last request was seen (the start, if none came), or undefined on timeout.
 * etcd3 sends one watch creation at a time per client, so after a burst of locks their creations
 * and cancellations trail behind; without this, that tail would load the next measurement.
 */
export async function waitForWatchQuiet(metricsUrls: readonly string[], timeoutMs = 60_000): Promise<number | undefined> {
  const deadline = clock() + timeoutMs;
  const requests = async (): Promise<number> =>
    total(await scrape(metricsUrls), 'grpc_server_msg_received_total', { grpc_method: 'Watch' });
  let last = await requests();
  let lastChange = clock();
  while (clock() < deadline) {
    await sleep(25);
    const now = await requests();
    if (now !== last) {
      last = now;
      lastChange = clock();
    } else if (clock() - lastChange >= 200) {
      return lastChange;
    }
  }
  return undefined;
}
