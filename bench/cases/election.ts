import type { Etcd3, Watcher } from 'etcd3';
import { Election } from '../../lib/index.js';
import type { Bench } from '../support/bench.js';
import { clock, sleep } from '../support/clock.js';
import { describeWork, perOp, scrape, work } from '../support/metrics.js';
import type { Row } from '../support/report.js';
import { summarize } from '../support/stats.js';
import { putOnce } from './baseline.js';

/** How long the follower has been in line when the leader resigns, ms. */
const QUIET_MS = 20;
/** Lease TTL of the candidate killed with SIGKILL, s. */
const KILL_TTL = 2;

/** Calls `onPut(key, time)` for every key written under `prefix`, from a watch started now. */
async function observe(client: Etcd3, prefix: string, onPut: (key: string) => void): Promise<Watcher> {
  const watcher = await client.watch().prefix(prefix).only('put').create();
  watcher.on('put', kv => onPut(kv.key.toString()));
  return watcher;
}

interface Side {
  subject: string;
  /** Elects a leader; resolves with its resign(). */
  lead(): Promise<() => Promise<void>>;
  /** Starts a follower campaign: `inLine` once its key exists, `elected` with the time it leads. */
  follow(): { inLine: Promise<void>; elected: Promise<{ at: number; resign(): Promise<void> }> };
}

/**
 * Case 6: (a) from the leader's resign() call to the follower's campaign resolving, the follower
 * having been in line 20 ms (a put after 20 ms of quiet is the reference); (b) kill -9 of the
 * leader's process, lease TTL 2 s, to the follower elected.
 */
export async function election(b: Bench): Promise<Row[]> {
  const rows: Row[] = [];
  const a = b.client();
  const f = b.client();
  const observer = b.client();
  const watchers: Watcher[] = [];

  const ours = async (): Promise<Side> => {
    const name = b.name('election');
    const leaderElection = new Election(await b.session(a), name);
    const followerElection = new Election(await b.session(f), name);
    let seen: (() => void) | undefined;
    const followerKey = `${name}/${followerElection.session.leaseId}`;
    // The follower's key: slot 0, or another slot while an earlier key of its is still being swept.
    const isFollowers = (key: string): boolean => key === followerKey || key.startsWith(`${followerKey}_`);
    watchers.push(await observe(observer, `${name}/`, key => isFollowers(key) && seen?.()));
    return {
      subject: 'etcd-concurrency Election',
      async lead() {
        const leadership = await leaderElection.campaign('a');
        return () => leadership.resign();
      },
      follow() {
        const inLine = new Promise<void>(resolve => (seen = resolve));
        const elected = followerElection.campaign('b').then(l => ({ at: clock(), resign: () => l.resign() }));
        return { inLine, elected };
      },
    };
  };
  const etcd3 = async (): Promise<Side> => {
    const name = b.name('etcd3-election');
    let seen: (() => void) | undefined;
    let leaderKey = '';
    watchers.push(await observe(observer, `election/${name}/`, key => key !== leaderKey && seen?.()));
    return {
      subject: 'etcd3 Election',
      async lead() {
        const campaign = a.election(name, 10).campaign('a');
        await campaign.wait();
        leaderKey = `election/${name}/${await campaign.getCampaignKey()}`;
        return () => campaign.resign();
      },
      follow() {
        const inLine = new Promise<void>(resolve => (seen = resolve));
        const campaign = f.election(name, 10).campaign('b');
        const elected = campaign.wait().then(() => ({ at: clock(), resign: () => campaign.resign() }));
        return { inLine, elected };
      },
    };
  };
  const sides = [await ours(), await etcd3()];

  // (a) resign → successor elected, the sides taking turns.
  const sample = async (side: Side): Promise<number> => {
    const resign = await side.lead();
    const { inLine, elected } = side.follow();
    await inLine;
    await sleep(QUIET_MS);
    const resignedAt = clock();
    await resign();
    const next = await elected;
    await next.resign();
    return next.at - resignedAt;
  };
  const iterations = b.pick(6, 80);
  const taken = sides.map(() => [] as number[]);
  const idle: number[] = [];
  for (const side of sides) await sample(side);
  for (let i = 0; i < iterations; i++) {
    for (let k = 0; k < sides.length; k++) {
      const j = (i + k) % sides.length;
      taken[j]!.push(await sample(sides[j]!));
    }
    await sleep(QUIET_MS);
    idle.push(await putOnce(a, 'bench/put'));
  }
  const p = summarize(idle);
  for (const [j, side] of sides.entries()) {
    const before = await scrape(b.metricsUrls);
    const k = b.pick(2, 5);
    for (let i = 0; i < k; i++) await sample(side);
    const server = perOp(work(before, await scrape(b.metricsUrls)), k);
    const s = summarize(taken[j]!);
    const r = s.median / p.median;
    rows.push({
      case: '6 election: resign → next elected',
      subject: side.subject,
      unit: 'ms',
      summary: s,
      ratio: { median: r, p99: s.p99 / p.p99, of: `put after ${QUIET_MS} ms idle` },
      ...(j === 0 ? { target: { text: '≤ 2.5× put', met: r <= 2.5 } } : {}),
      note: `whole cycle: ${describeWork(server)}`,
      server,
      detail: { idlePut: p, quietMs: QUIET_MS },
    });
  }
  await Promise.all(watchers.map(w => w.cancel()));

  // (b) kill -9 of the leader's process → successor elected.
  const kills = b.pick(1, 4);
  // Quick mode: ours only (each sample is a process start and a lease expiry).
  for (const impl of b.pick(['ours'] as const, ['ours', 'etcd3'] as const)) {
    const failovers: number[] = [];
    for (let i = 0; i < kills; i++) {
      const name = b.name('kill');
      const leader = b.worker('candidate.ts', [impl, name, String(KILL_TTL)]);
      await leader.next('leader');
      const prefix = impl === 'ours' ? `${name}/` : `election/${name}/`;
      const keys = async (): Promise<number> => observer.getAll().prefix(prefix).count();
      let follower: Promise<{ at: number; resign(): Promise<void> }>;
      if (impl === 'ours') {
        const election = new Election(await b.session(f, KILL_TTL), name);
        follower = election.campaign('follower').then(l => ({ at: clock(), resign: () => l.resign() }));
      } else {
        const campaign = f.election(name, KILL_TTL).campaign('follower');
        follower = campaign.wait().then(() => ({ at: clock(), resign: () => campaign.resign() }));
      }
      while ((await keys()) < 2) await sleep(10);
      // Kill at a random point of the keepalive cycle (every TTL/3).
      await sleep(Math.random() * ((KILL_TTL * 1000) / 3));
      const killedAt = clock();
      leader.child.kill('SIGKILL');
      const next = await follower;
      failovers.push((next.at - killedAt) / 1000);
      await next.resign();
      await leader.exited;
    }
    const s = summarize(failovers);
    rows.push({
      case: `6 election: kill -9 leader, TTL ${KILL_TTL} s → next elected`,
      subject: impl === 'ours' ? 'etcd-concurrency Election' : 'etcd3 Election',
      unit: 's',
      summary: s,
      ratio: { median: s.median / KILL_TTL, p99: s.p99 / KILL_TTL, of: 'TTL' },
      ...(impl === 'ours' ? { target: { text: `≤ TTL + 0.5 s (max ${s.max.toFixed(2)} s)`, met: s.max <= KILL_TTL + 0.5 } } : {}),
      note: 'etcd expires leases on a 500 ms check, so TTL + 0.5 s is its own bound',
      detail: { failovers },
    });
  }
  return rows;
}
