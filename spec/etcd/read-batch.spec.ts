import type { IRangeRequest } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { defaultRetryPolicy, type CallContext } from '../../lib/etcd/call.js';
import { keyspaceOf } from '../../lib/etcd/keyspace.js';
import { checkKey, readRange } from '../../lib/etcd/read-batch.js';
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

  it('checks of keys share the call of the reads; when one fails, the checked keys are read back in one more call', async () => {
    const c = client();
    const keys = keyspaceOf(c);
    const names = [uniqueName('check-a'), uniqueName('check-b'), uniqueName('check-c'), uniqueName('check-d')];
    const created = await Promise.all(names.map(name => c.put(`${name}/k`).value('').exec()));
    const revisionOf = (i: number): bigint => BigInt(created[i]!.header.revision);
    await c.delete().key(`${names[1]}/k`);
    await c.put(`${names[2]}/k`).value('again');
    const calls = recordTraffic(c).calls;
    const [read, ...checks] = await Promise.all([
      readRange(c, ctx, 'read a', page(c, names[0]!)),
      ...names.map((name, i) => checkKey(c, ctx, `check ${name}`, keys.key(`${name}/k`), revisionOf(i))),
      checkKey(c, ctx, 'check with another revision', keys.key(`${names[3]}/k`), revisionOf(3) + 1n),
    ]);
    expect(keysOf(read.kvs)).toEqual([`${names[0]}/k`]);
    // Kept; deleted; written again (same create revision: still the same key); kept; another revision.
    expect(checks).toEqual([true, false, true, true, false]);
    expect(calls.get('txn')).toBe(2);
    expect(calls.get('range')).toBeUndefined();
  });

  it('a check that all keys still hold costs etcd one comparison each and answers nothing for them', async () => {
    const c = client();
    const names = [uniqueName('check-e'), uniqueName('check-f')];
    const created = await Promise.all(names.map(name => c.put(`${name}/k`).value('').exec()));
    const traffic = recordTraffic(c);
    const held = await Promise.all(names.map((name, i) => checkKey(c, ctx, `check ${name}`, keyspaceOf(c).key(`${name}/k`), BigInt(created[i]!.header.revision))));
    expect(held).toEqual([true, true]);
    const request = traffic.requests[0] as { compare: unknown[]; success: unknown[]; failure: unknown[] };
    expect(request.compare).toHaveLength(2);
    expect(request.success).toEqual([]);
    expect(request.failure).toEqual([]);
    expect(traffic.requests).toHaveLength(1);
  });
});
