import type { IKeyValue, Namespace } from 'etcd3';
import { membersOf, type Members } from './members.js';
import { WatchHub } from './watch-hub.js';

/** What a watch is on: one key, or every key in `[key, rangeEnd)`, as stored (namespace included). */
export interface WatchTarget {
  readonly key: Buffer;
  readonly rangeEnd?: Buffer;
  /** Deletions only (etcd's NOPUT filter), or every change. */
  readonly events: 'delete' | 'all';
  /**
   * Watch from this revision on instead of from "now". Only for a revision not yet reached (such as
   * one past a key just created): a past one is served by etcd's 100 ms catch-up loop.
   */
  readonly startRevision?: bigint;
}

/** One event of a watch, as etcd sent it. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly kv: IKeyValue;
}

/** What a watch tells its owner. */
export interface WatchListener {
  /**
   * etcd registered the watch at `revision`: from there on nothing is missed. `gapFree` is true
   * when nothing before it can have been missed either (a watch with a start revision, registered
   * the first time); after a watch from "now", or one registered again from "now" after its stream
   * was replaced, re-read etcd to learn what happened before. `first` is true for the watch's first
   * registration (it was never dropped and registered again).
   */
  synced(revision: bigint, gapFree: boolean, first: boolean): void;
  /** Events at one revision (etcd sends those of one revision together), in order. */
  events(events: readonly WatchEvent[], revision: bigint): void;
  /** etcd refused the watch for good (permission): the watch is over. */
  failed?(error: Error): void;
}

/** A live watch; `cancel()` ends it (idempotent). */
export interface Watch {
  cancel(): void;
}

const hubs = new WeakMap<Members, WatchHub>();

/**
 * Watches `target` through `client`'s shared watch stream, from "now" (or `target.startRevision`): etcd registers it as a synced
 * watcher and delivers events at once (a watch from a past revision is served by etcd's catch-up
 * loop, every 100 ms). Callers re-read etcd after each `synced` to close the gap before it.
 */
export function watch(client: Namespace, target: WatchTarget, listener: WatchListener): Watch {
  const members = membersOf(client);
  let hub = hubs.get(members);
  if (!hub) hubs.set(members, (hub = new WatchHub(members)));
  return hub.watch(target, listener);
}

/**
 * @internal The member (`host:port`) that serves `client`'s watch stream now, if one is open: for
 * tests that freeze exactly that member.
 */
export function watchStreamEndpoint(client: Namespace): string | undefined {
  return hubs.get(membersOf(client))?.endpointId;
}
