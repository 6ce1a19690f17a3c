import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import type { Keyspace } from '../etcd/keyspace.js';
import { isEntryOf } from './layout.js';
import type { Decision, Entry, Rule } from './rule.js';
import { int64 } from '../etcd/int64.js';

/** The value of an entry read without values, or written empty: one shared empty buffer. */
export const EMPTY_VALUE: Buffer = Buffer.alloc(0);

/** Keys read per page when looking at the entries ahead of ours. */
export const PAGE = 8;

/** One page of a queue, newest first. */
export interface Page {
  /** The queue's entries in the page (keys of longer names left out). */
  readonly entries: readonly Entry[];
  /** Whether etcd has more (older) keys past this page. */
  readonly more: boolean;
  /** The create revision of the page's oldest key, where the next page starts below. */
  readonly oldest: bigint | undefined;
}

/** How much larger each further page is than the one before: a rule that must see far back (a reader behind many readers) reads 8, 64, 512… keys, not 8 at a time. */
export const PAGE_GROWTH = 8;

/** The range request for a page of `prefix`'s keys created up to `maxCreateRevision`, newest first. */
export function pageRequest(keys: Keyspace, prefix: string, rule: Rule, maxCreateRevision?: bigint, limit = PAGE): IRangeRequest {
  const range = keys.prefix(prefix);
  // Built field by field: every lock makes one, and spreading the range in cost more than the rest.
  const request: IRangeRequest = { key: range.key, range_end: range.range_end, sort_order: 'Descend', sort_target: 'Create', limit, keys_only: !rule.needsValues };
  if (maxCreateRevision !== undefined) request.max_create_revision = int64(maxCreateRevision);
  return request;
}

/** A page of a queue from etcd's answer to a {@link pageRequest}. */
export function pageOf(keys: Keyspace, prefix: string, res: Pick<IRangeResponse, 'kvs' | 'more'>): Page {
  const last = res.kvs[res.kvs.length - 1];
  return { entries: entriesOf(keys, prefix, res.kvs), more: res.more, oldest: last && BigInt(last.create_revision) };
}

/** The queue entries in etcd key-values: direct children of `prefix` only (`a/b/…` is another queue's). */
export function entriesOf(keys: Keyspace, prefix: string, kvs: readonly IKeyValue[]): Entry[] {
  const entries: Entry[] = [];
  for (const kv of kvs) {
    const key = keys.relative(kv.key);
    if (isEntryOf(prefix, key)) entries.push({ key, createRevision: BigInt(kv.create_revision), value: kv.value?.length ? kv.value : EMPTY_VALUE });
  }
  return entries;
}

/**
 * Asks `rule` about `me`, reading older pages while it answers `'more'`.
 *
 * @param first a page of entries created up to `me` (and perhaps after), newest first.
 * @param readOlder reads the page of entries created up to the given revision, of up to `limit`
 * keys ({@link PAGE_GROWTH} times the previous page's).
 */
export async function decide(
  rule: Rule,
  me: Entry,
  first: Page,
  readOlder: (maxCreateRevision: bigint, limit: number) => Promise<Page>,
  /** Told what the decision was made on: the older entries read, and whether they are all of them. */
  seen?: (older: readonly Entry[], complete: boolean) => void,
): Promise<Decision> {
  const older: Entry[] = [];
  let page = first;
  for (let limit = PAGE * PAGE_GROWTH; ; limit *= PAGE_GROWTH) {
    for (const entry of page.entries) if (entry.createRevision < me.createRevision) older.push(entry);
    const complete = !page.more || page.oldest === undefined;
    const decision = rule.decide(me, older, complete);
    if (decision.kind !== 'more' || complete) {
      seen?.(older, complete);
      return decision.kind === 'more' ? rule.decide(me, older, true) : decision;
    }
    page = await readOlder(page.oldest! - 1n, limit);
  }
}
