import type { Etcd3, Namespace, ComparatorBuilder } from 'etcd3';
import { describe, expectTypeOf, it } from 'vitest';
import * as api from '../lib/index.js';
import { Lock, Mutex, Session, type LockOptions, type SessionOptions } from '../lib/index.js';

describe('public types', () => {
  it('Session.create takes an Etcd3 client or a Namespace', () => {
    expectTypeOf(Session.create).parameter(0).toEqualTypeOf<Namespace>();
    expectTypeOf<Etcd3>().toExtend<Namespace>();
    expectTypeOf(Session.create).parameter(1).toEqualTypeOf<SessionOptions | undefined>();
    expectTypeOf(Session.create).returns.resolves.toEqualTypeOf<Session>();
    expectTypeOf<Session['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<Session['leaseId']>().toBeString();
    expectTypeOf<Session>().toExtend<AsyncDisposable>();
  });

  it('Mutex and Lock', () => {
    expectTypeOf<Mutex['lock']>().parameter(0).toEqualTypeOf<LockOptions | undefined>();
    expectTypeOf<Mutex['lock']>().returns.resolves.toEqualTypeOf<Lock>();
    expectTypeOf<Mutex['tryLock']>().returns.resolves.toEqualTypeOf<Lock | null>();
    expectTypeOf<Lock['fencingToken']>().toEqualTypeOf<bigint>();
    expectTypeOf<Lock['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<Lock['ifOwner']>().returns.toEqualTypeOf<ComparatorBuilder>();
    expectTypeOf<Lock>().toExtend<AsyncDisposable>();
  });

  it('errors are classes with their context', () => {
    expectTypeOf<api.LockTimeoutError['timeout']>().toBeNumber();
    expectTypeOf<api.OwnershipLostError['reason']>().toEqualTypeOf<'deleted' | 'session' | 'released'>();
    expectTypeOf<api.LeaseLostError['reason']>().toEqualTypeOf<api.LeaseLossReason>();
    expectTypeOf<api.InvalidArgumentError>().toExtend<api.EtcdConcurrencyError>();
  });

  it('has no default export', () => {
    expectTypeOf(api).not.toHaveProperty('default');
  });
});
