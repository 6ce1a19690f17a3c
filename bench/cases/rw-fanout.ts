import type { Etcd3 } from 'etcd3';
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
  const floors: number[] = [];
  const puts: number[] = [];
  for (let round = 0; round < rounds; round++) {
    floors.push(await floorRound(client, b.name('fanout-floor'), readers, sessions[0]!.lease));
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
  const f = summarize(floors);
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
      note: `${rounds} rounds; all ${readers} readers granted each time; ${(s.median / f.median).toFixed(2)}× the floor`,
      detail: { put: p },
    },
    {
      case: CASE,
      subject: 'floor: 1 watch event, 1 check of 100 keys',
      unit: 'ms',
      summary: f,
      ratio: { median: f.median / p.median, p99: f.p99 / p.p99, of: 'put' },
      note: 'bare etcd3: the writer’s guarded delete, its event on one watch, one transaction comparing the 100 keys’ create revisions',
      detail: { put: p },
    },
  ];
}

/**
 * The floor of a writer's release to readers in one process, in bare etcd3 calls: what etcd and the
 * client library cost when the readers share one watch and one check, as the RWMutex's do.
 */
async function floorRound(client: Etcd3, name: string, readers: number, lease: string): Promise<number> {
  const key = (i: number): Buffer => Buffer.from(`${name}/${i}`);
  const created = await Promise.all(Array.from({ length: readers + 1 }, (_, i) => client.kv.put({ key: key(i), value: Buffer.alloc(0), lease })));
  const watcher = await client.watch().key(key(0)).create();
  try {
    const deleted = new Promise<void>(resolve => watcher.once('delete', () => resolve()));
    const releasedAt = clock();
    await client.kv.txn({
      compare: [{ key: key(0), target: 'Create', result: 'Equal', create_revision: created[0]!.header.revision }],
      success: [{ request_delete_range: { key: key(0) } }],
    });
    await deleted;
    const compare = created.slice(1).map((c, i) => ({ key: key(i + 1), target: 'Create' as const, result: 'Equal' as const, create_revision: c.header.revision }));
    const res = await client.kv.txn({ compare });
    if (!res.succeeded) throw new Error('a reader key of the floor is gone');
    return clock() - releasedAt;
  } finally {
    await watcher.cancel();
    await client.delete().prefix(`${name}/`);
  }
}
