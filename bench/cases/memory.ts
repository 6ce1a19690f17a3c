import type { Bench, Message } from '../support/bench.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';

interface Memory extends Message {
  heldSetupSeconds?: number;
  waitingSetupSeconds?: number;
  heldBytes: number;
  waitingBytes?: number;
  heldExternal: number;
  waitingExternal?: number;
  seconds: number;
}

/**
 * Case 7: heap per held lock and per waiting lock, with many of each in one process (a worker
 * run with --expose-gc, measured after full collections once etcd has registered every watch).
 * The figure is one measurement over `count` locks: n is the lock count.
 */
export async function memory(b: Bench): Promise<Row[]> {
  const run = async (impl: string, count: number): Promise<Memory> => {
    const worker = b.worker('memory.ts', [impl, String(count)], ['--expose-gc']);
    const result = await worker.next<Memory>('memory');
    await worker.exited;
    return result;
  };
  const one = (x: number, n: number) => ({ n, median: x, p99: x, min: x, max: x, mean: x });
  const rows: Row[] = [];
  const count = b.pick(500, 10_000);
  const ours = await run('ours', count);
  const note = (m: Memory, external: number | undefined): string =>
    `one process, ${m.seconds.toFixed(1)} s to set up${m.waitingSetupSeconds === undefined ? '' : ` (held ${m.heldSetupSeconds!.toFixed(1)} s, waiting ${m.waitingSetupSeconds.toFixed(1)} s)`}; + ${Math.round(external ?? 0)} B outside the heap per lock`;
  rows.push(
    { case: '7 memory: heap per held lock', subject: 'etcd-concurrency Mutex', unit: 'B', summary: one(ours.heldBytes, count), note: note(ours, ours.heldExternal), detail: { ...ours } },
    {
      case: '7 memory: heap per waiting lock',
      subject: 'etcd-concurrency Mutex',
      unit: 'B',
      summary: one(ours.waitingBytes ?? Number.NaN, count),
      // Issue targets, at 10,000 waiters: at most 8 KB of heap each, all set up within 15 s.
      ...(count >= 10_000
        ? { target: { text: '≤ 8 KB, set up ≤ 15 s', met: (ours.waitingBytes ?? Infinity) <= 8192 && (ours.waitingSetupSeconds ?? Infinity) <= 15 } }
        : {}),
      note: note(ours, ours.waitingExternal),
      detail: { ...ours },
    },
  );
  const peerCount = b.pick(50, 1000);
  const lock = await run('etcd3-lock', peerCount);
  rows.push({ case: '7 memory: heap per held lock', subject: 'etcd3 Lock', unit: 'B', summary: one(lock.heldBytes, peerCount), note: `${note(lock, lock.heldExternal)}; a lease and keepalive stream each`, detail: { ...lock } });
  const elect = await run('etcd3-election', peerCount);
  rows.push(
    { case: '7 memory: heap per held lock', subject: 'etcd3 Election (leader)', unit: 'B', summary: one(elect.heldBytes, peerCount), note: `${note(elect, elect.heldExternal)}; a lease and keepalive stream each`, detail: { ...elect } },
    { case: '7 memory: heap per waiting lock', subject: 'etcd3 Election (follower)', unit: 'B', summary: one(elect.waitingBytes ?? Number.NaN, peerCount), note: note(elect, elect.waitingExternal), detail: { ...elect } },
  );
  void summarize;
  return rows;
}
