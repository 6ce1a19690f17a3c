import type { IKeyValue } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { OwnKeyGuard } from '../../lib/queue/own-key.js';
import { client, uniqueName } from '../support/etcd.js';

describe('own-key guard', () => {
  it('a deletion at or before our create revision is of an earlier key of the same name, not ours', () => {
    // `<name>/<lease>` is taken again after a release; a watch from "now" on a member that has not
    // applied our creation yet hears the earlier key's deletion (seen in semaphore.spec.ts runs).
    let deleted = 0;
    const guard = new OwnKeyGuard(client(), Buffer.from(uniqueName('own')), 27n, { ownKeyDeleted: () => deleted++, confirm: () => Promise.resolve(), ended: false, until: new AbortController().signal });
    const deletion = (at: number) => ({ type: 'delete' as const, kv: { mod_revision: String(at) } as IKeyValue });
    guard.events([deletion(26)]);
    guard.events([deletion(27)]);
    expect(deleted).toBe(0);
    guard.events([deletion(28)]);
    expect(deleted).toBe(1);
    guard.cancel();
  });
});
