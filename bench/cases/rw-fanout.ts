import { RWMutex, type Lock } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { clock } from '../support/clock.js';
import { waitForKeys, waitForWatchQuiet } from '../support/etcd.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

const CASE = '9 writer release → 100 queued readers';

/**
 * Case 9: a writer holds, 100 readers queue behind it (on 4 sessions of one client, all watching
 * the writer's key), the writer releases: measured from the release call to the moment the last
 * reader holds. The release comes once the readers wait (etcd has stopped receiving their watch
 * requests), so the figure is the handoff's, not the queueing's. Target: ≤ 3× a put.
 */
export async function rwFanout(b: Bench): Promise<Row[]> {
  const client = b.client();
  const sessions = await Promise.all([0, 1, 2, 3].map(() => b.session(client)));
  const readers = 100;
  const rounds = b.pick(5, 20);
  const fanouts: number[] = [];
  const puts: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const name = b.name('fanout');
    const writer = await new RWMutex(sessions[0]!, name).writeLock();
    const pending: Promise<[Lock, number]>[] = [];
    for (let i = 0; i < readers; i++) pending.push(new RWMutex(sessions[i % 4]!, name).readLock().then(l => [l, clock()]));
    await waitForKeys(client, `${name}/`, readers + 1);
    await waitForWatchQuiet(b.metricsUrls);
    const releasedAt = clock();
    await writer.unlock();
    const held = await Promise.all(pending);
    fanouts.push(Math.max(...held.map(([, at]) => at)) - releasedAt);
    await Promise.all(held.map(([l]) => l.unlock()));
    for (let i = 0; i < 10; i++) puts.push(await putOnce(client, b.name('fanout-put')));
  }
  const s = summarize(fanouts);
  const p = summarize(puts);
  const r = s.median / p.median;
  return [
    {
      case: CASE,
      subject: 'etcd-concurrency RWMutex',
      unit: 'ms',
      summary: s,
      ratio: { median: r, p99: s.p99 / p.p99, of: 'put' },
      target: { text: '≤ 3× put', met: r <= 3 },
      note: `${rounds} rounds; all ${readers} readers granted each time`,
      detail: { put: p },
    },
  ];
}
