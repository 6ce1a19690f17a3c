import { describe, expect, it } from 'vitest';
import { Mutex } from '../../lib/index.js';
import { client, keysUnder, session, uniqueName } from '../support/etcd.js';
import { run, scrape, total } from './program.js';

const mutex = { lock_kind: 'mutex' };

describe('examples/metrics.ts', () => {
  it('serves Prometheus text whose figures follow a timeout, a lock cycle and a lost lease', async () => {
    const c = client();
    const lockName = uniqueName('metrics');
    const electionName = uniqueName('metrics-leader');
    // Held by the test first, so that the workers' first waits time out.
    const blocker = await new Mutex(await session(c), lockName).lock();
    const program = run('examples/metrics.ts', {
      LOCK: lockName,
      ELECTION: electionName,
      PORT: '0',
      WORKERS: '2',
      HOLD_MS: '3000',
      TIMEOUT_MS: '500',
    });
    const url = /metrics on (\S+)/.exec((await program.next(/^metrics on /)).line)![1]!;
    const count = (pattern: RegExp): number => program.lines.filter(l => pattern.test(l)).length;

    // A timeout.
    await program.next(/^elector leading /);
    await program.next(/ timed out after 500 ms$/);
    let timedOut = count(/ timed out /);
    let samples = await scrape(url);
    expect(total(samples, 'etcd_concurrency_lock_timeouts_total', mutex)).toBeGreaterThanOrEqual(timedOut);
    expect(total(samples, 'etcd_concurrency_lock_wait_duration_count', { ...mutex, lock_outcome: 'timeout' })).toBeGreaterThanOrEqual(timedOut);
    expect(total(samples, 'etcd_concurrency_lock_acquisitions_total', mutex)).toBe(0);
    // The leader gauge, under Kubernetes' name and label.
    expect(total(samples, 'leader_election_master_status', { name: electionName })).toBe(1);
    expect(total(samples, 'etcd_concurrency_election_transitions_total', { name: electionName, election_role: 'leader' })).toBe(1);

    // A lock cycle: the test lets go, a worker acquires, works, releases.
    await blocker.unlock();
    const first = await program.next(/ acquired /);
    const token = / token (\d+)$/.exec(first.line)![1]!;
    const released = await program.next(new RegExp(` released token ${token}$`), first.index + 1);
    samples = await scrape(url);
    timedOut = count(/ timed out /);
    expect(total(samples, 'etcd_concurrency_lock_acquisitions_total', mutex)).toBeGreaterThanOrEqual(count(/ acquired /));
    expect(total(samples, 'etcd_concurrency_lock_hold_duration_count', { ...mutex, lock_outcome: 'released' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_lock_hold_duration_sum', { ...mutex, lock_outcome: 'released' })).toBeGreaterThanOrEqual(2.9);
    expect(total(samples, 'etcd_concurrency_lock_wait_duration_count', { ...mutex, lock_outcome: 'acquired' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_lock_held', mutex)).toBeLessThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_lock_waiting', mutex)).toBeLessThanOrEqual(2);

    // A lost lease: revoke the lease of the next holder while it works (if it released first, the next).
    let from = released.index + 1;
    let lost: { line: string; index: number } | undefined;
    while (!lost) {
      const acquired = await program.next(/ acquired /, from);
      const [, worker, lease, held] = /^worker (\d+) acquired \S+ lease ([0-9a-f]+) token (\d+)$/.exec(acquired.line)!;
      await c.leaseClient.leaseRevoke({ ID: BigInt(`0x${lease}`).toString() });
      const end = await program.next(new RegExp(`^worker ${worker} (lost the lock|released token ${held}$)`), acquired.index + 1);
      if (end.line.includes('lost the lock')) lost = end;
      else from = end.index + 1;
      await program.next(new RegExp(`^worker ${worker} session lost`), acquired.index + 1);
    }
    samples = await scrape(url);
    expect(total(samples, 'etcd_concurrency_lock_losses_total', mutex)).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_lock_hold_duration_count', { ...mutex, lock_outcome: 'lost' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_session_losses_total', { session_loss_reason: 'revoked' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_session_keepalive_duration_count')).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'etcd_concurrency_lock_timeouts_total', mutex)).toBeGreaterThanOrEqual(timedOut);

    program.child.kill('SIGTERM');
    expect(await program.exited, program.stderr()).toBe(0);
    expect(program.lines).toContain('stopped');
    expect(await keysUnder(c, `${lockName}/`)).toEqual([]);
    expect(await keysUnder(c, `${electionName}/`)).toEqual([]);
  }, 60_000);
});
