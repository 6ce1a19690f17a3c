import { describe, expect, it } from 'vitest';
import { keyspaceOf } from '../../lib/etcd/keyspace.js';
import { watch, type Watch, type WatchListener } from '../../lib/etcd/watch.js';
import { client, uniqueName } from '../support/etcd.js';

describe('watch hub', () => {
  it('more creations at once than it keeps in flight: each is registered once, hears its own deletion, and one cancelled while queued never answers', async () => {
    const c = client();
    const name = uniqueName('hub');
    const count = 700;
    const keys = Array.from({ length: count }, (_, i) => `${name}/${i}`);
    await Promise.all(keys.map(key => c.put(key).value('')));
    const synced = new Array<number>(count).fill(0);
    const deleted = new Array<number>(count).fill(0);
    let syncedWatches = 0;
    let allSynced!: () => void;
    const registered = new Promise<void>(resolve => (allSynced = resolve));
    let pendingDeletions = 0;
    let allDeleted!: () => void;
    const gone = new Promise<void>(resolve => (allDeleted = resolve));
    const watches: Watch[] = keys.map((key, i) => {
      const listener: WatchListener = {
        synced: () => {
          if (synced[i]!++ === 0 && ++syncedWatches === count - 1) allSynced();
        },
        events: events => {
          deleted[i]! += events.filter(e => e.type === 'delete').length;
          if (--pendingDeletions === 0) allDeleted();
        },
      };
      return watch(c, { key: keyspaceOf(c).key(key), events: 'delete' }, listener);
    });
    // The last creation is queued behind the first 256: cancelled before it is sent, it never answers.
    watches[count - 1]!.cancel();
    await registered;
    expect(synced.slice(0, count - 1).every(n => n === 1)).toBe(true);
    expect(synced[count - 1]).toBe(0);
    pendingDeletions = count - 1;
    await Promise.all(keys.map(key => c.delete().key(key)));
    await gone;
    expect(deleted.slice(0, count - 1).every(n => n === 1)).toBe(true);
    // Its answer would have come before the events that followed it on the stream.
    expect(synced[count - 1]).toBe(0);
    expect(deleted[count - 1]).toBe(0);
    for (const w of watches) w.cancel();
  });

  it('a watch that joins while creations wait their turn is synced after all of them', async () => {
    const c = client();
    const name = uniqueName('hub-join');
    const count = 300;
    const keys = Array.from({ length: count }, (_, i) => keyspaceOf(c).key(`${name}/${i}`));
    let synced = 0;
    let syncedBeforeJoiner = -1;
    let joinerSynced!: () => void;
    const joined = new Promise<void>(resolve => (joinerSynced = resolve));
    const quiet: WatchListener = { synced: () => void synced++, events: () => undefined };
    const watches = keys.map(key => watch(c, { key, events: 'delete' }, quiet));
    // Joins the first watch while most of the 300 creations are still queued in the hub.
    const joiner = watch(c, { key: keys[0]!, events: 'delete' }, {
      synced: () => {
        syncedBeforeJoiner = synced;
        joinerSynced();
      },
      events: () => undefined,
    });
    await joined;
    expect(syncedBeforeJoiner).toBe(count);
    for (const w of [...watches, joiner]) w.cancel();
  });
});
