/**
 * Reads etcd's Prometheus counters from every member, to count what an operation costs on the
 * server: the gRPC calls it made (round trips), the watch messages, and the watch events etcd sent.
 */

/** One scrape of all members: series (name plus labels) → value, summed over members. */
export type Scrape = Map<string, number>;

/** The series a scrape keeps; every other line of etcd's `/metrics` is skipped unread. */
const KEPT = ['grpc_server_', 'etcd_debugging_mvcc_'];

/**
 * Scrapes `/metrics` of every URL and sums each series over the members. Some cases poll this
 * every 20 ms from the process they measure, so it stays cheap there: the text comes uncompressed
 * (over loopback, gzip only costs CPU), and only the lines of the kept series are cut out of it
 * (most of etcd's several hundred kilobytes are other series).
 */
export async function scrape(metricsUrls: readonly string[]): Promise<Scrape> {
  const texts = await Promise.all(
    metricsUrls.map(async url => {
      const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(30_000), headers: { 'accept-encoding': 'identity' } });
      return res.text();
    }),
  );
  const sums: Scrape = new Map();
  for (const text of texts) {
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (KEPT.some(prefix => text.startsWith(prefix, start))) {
        const space = text.lastIndexOf(' ', end - 1);
        const series = text.slice(start, space);
        sums.set(series, (sums.get(series) ?? 0) + Number(text.slice(space + 1, end)));
      }
      start = end + 1;
    }
  }
  return sums;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
export function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [series, value] of s) {
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (wanted.every(w => series.includes(w))) sum += value;
  }
  return sum;
}

/** What etcd did between two scrapes. */
export interface ServerWork {
  /** Unary calls started, by method (Range, Txn, Put, DeleteRange, LeaseGrant, LeaseRevoke, …). */
  calls: Record<string, number>;
  /** Messages clients sent on watch streams (create and cancel requests). */
  watchRequests: number;
  /** Messages etcd sent on watch streams (created/canceled answers and event batches). */
  watchResponses: number;
  /** Watch events etcd sent to watchers (`etcd_debugging_mvcc_events_total`). */
  watchEvents: number;
  /** Keepalive messages received. */
  keepAlives: number;
  /** Watch streams opened. */
  watchStreams: number;
  /** Watchers that fell behind and were served from the catch-up loop. */
  slowWatchers: number;
}

const UNARY = ['Range', 'Put', 'DeleteRange', 'Txn', 'LeaseGrant', 'LeaseRevoke', 'LeaseTimeToLive'];

/** The difference between two scrapes. */
export function work(before: Scrape, after: Scrape): ServerWork {
  const d = (name: string, labels: Record<string, string> = {}): number =>
    total(after, name, labels) - total(before, name, labels);
  const calls: Record<string, number> = {};
  for (const method of UNARY) {
    const n = d('grpc_server_started_total', { grpc_method: method });
    if (n > 0) calls[method] = n;
  }
  return {
    calls,
    watchRequests: d('grpc_server_msg_received_total', { grpc_method: 'Watch' }),
    watchResponses: d('grpc_server_msg_sent_total', { grpc_method: 'Watch' }),
    watchEvents: d('etcd_debugging_mvcc_events_total'),
    keepAlives: d('grpc_server_msg_received_total', { grpc_method: 'LeaseKeepAlive' }),
    watchStreams: d('grpc_server_started_total', { grpc_method: 'Watch' }),
    slowWatchers: Math.max(0, total(after, 'etcd_debugging_mvcc_slow_watcher_total')),
  };
}

/** Per-operation view of {@link ServerWork}, rounded to two decimals. */
export function perOp(w: ServerWork, ops: number): ServerWork {
  const r = (x: number): number => Math.round((x / ops) * 100) / 100;
  return {
    calls: Object.fromEntries(Object.entries(w.calls).map(([k, v]) => [k, r(v)])),
    watchRequests: r(w.watchRequests),
    watchResponses: r(w.watchResponses),
    watchEvents: r(w.watchEvents),
    keepAlives: r(w.keepAlives),
    watchStreams: r(w.watchStreams),
    slowWatchers: w.slowWatchers,
  };
}

/** "1 Txn + 1 Range, watch 2 req/2 resp, 1 event" */
export function describeWork(w: ServerWork): string {
  const calls = Object.entries(w.calls)
    .map(([k, v]) => `${v} ${k}`)
    .join(' + ');
  return `${calls || '0 calls'}; watch ${w.watchRequests} req/${w.watchResponses} resp, ${w.watchEvents} events`;
}

/** Current number of watchers registered in etcd, summed over members. */
export async function watchers(metricsUrls: readonly string[]): Promise<number> {
  return total(await scrape(metricsUrls), 'etcd_debugging_mvcc_watcher_total');
}
