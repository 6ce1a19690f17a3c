import type { IRangeRequest } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { defaultRetryPolicy, type CallContext } from '../../lib/etcd/call.js';
import { keyspaceOf } from '../../lib/etcd/keyspace.js';
import { readRange } from '../../lib/etcd/read-batch.js';
import { client, uniqueName } from '../support/etcd.js';
import { recordTraffic } from '../support/traffic.js';

/** The request a waiter makes for the newest `limit` keys under `name/`, keys only. */
function page(c: ReturnType<typeof client>, name: string, limit = 8): IRangeRequest {
  return { ...keyspaceOf(c).prefix(`${name}/`), sort_order: 'Descend', sort_target: 'Create', limit, keys_only: true };
}

const ctx: CallContext = { policy: defaultRetryPolicy(), callTimeout: 5000 };
const keysOf = (kvs: { key: Buffer }[]): string[] => kvs.map(kv => kv.key.toString());

describe('readRange', () => {
  it('small reads asked for together share one call, each with its own answer; a read alone is a plain range', async () => {
    const c = client();
    const names = Array.from({ length: 20 }, (_, i) => uniqueName(`batch${i}`));
    await Promise.all(names.map((name, i) => c.put(`${name}/k${i}`).value('v')));
    const calls = recordTraffic(c).calls;
    const answers = await Promise.all(names.map(name => readRange(c, ctx, `read ${name}`, page(c, name))));
    expect(answers.map(a => keysOf(a.kvs))).toEqual(names.map((name, i) => [`${name}/k${i}`]));
    expect(calls.get('txn')).toBe(1);
    expect(calls.get('range')).toBeUndefined();
    const alone = await readRange(c, ctx, 'read one', page(c, names[0]!));
    expect(keysOf(alone.kvs)).toEqual([`${names[0]}/k0`]);
    expect(calls.get('range')).toBe(1);
  });

  it('reads with values, or of more keys, go alone', async () => {
    const c = client();
    const name = uniqueName('batch-big');
    await c.put(`${name}/a`).value('v');
    const calls = recordTraffic(c).calls;
    const [withValues, many] = await Promise.all([
      readRange(c, ctx, 'read with values', { ...page(c, name), keys_only: false }),
      readRange(c, ctx, 'read many', page(c, name, 64)),
    ]);
    expect(withValues.kvs[0]!.value.toString()).toBe('v');
    expect(keysOf(many.kvs)).toEqual([`${name}/a`]);
    expect(calls.get('range')).toBe(2);
    expect(calls.get('txn')).toBeUndefined();
  });

  it('a caller that gives up is rejected at once; the others get their answers', async () => {
    const c = client();
    const names = [uniqueName('batch-a'), uniqueName('batch-b')];
    await Promise.all(names.map(name => c.put(`${name}/k`).value('')));
    const controller = new AbortController();
    const given = readRange(c, ctx, 'read a', page(c, names[0]!), controller.signal);
    const kept = readRange(c, ctx, 'read b', page(c, names[1]!));
    controller.abort(new Error('gave up'));
    await expect(given).rejects.toThrow('gave up');
    expect(keysOf((await kept).kvs)).toEqual([`${names[1]}/k`]);
  });

  it('a shared call etcd refuses (a name one may not read) is made again read by read', async () => {
    const c = client();
    const names = [uniqueName('batch-c'), uniqueName('batch-d'), uniqueName('batch-e')];
    await Promise.all(names.map(name => c.put(`${name}/k`).value('')));
    const refusal = Object.assign(new Error('etcdserver: permission denied'), { code: 7 });
    const calls = recordTraffic(c, method => (method === 'txn' ? refusal : undefined)).calls;
    const answers = await Promise.all(names.map(name => readRange(c, ctx, `read ${name}`, page(c, name))));
    expect(answers.map(a => keysOf(a.kvs))).toEqual(names.map(name => [`${name}/k`]));
    expect(calls.get('txn')).toBe(1);
    expect(calls.get('range')).toBe(3);
  });
});
