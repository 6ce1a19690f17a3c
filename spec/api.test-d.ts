import type { Etcd3, Namespace, ComparatorBuilder } from 'etcd3';
import { describe, expectTypeOf, it } from 'vitest';
import * as api from '../lib/index.js';
import {
  Election,
  LeaderElector,
  Leadership,
  Lock,
  Mutex,
  Permit,
  RWMutex,
  Semaphore,
  Session,
  type LeaderInfo,
  type LockOptions,
  type SessionOptions,
} from '../lib/index.js';

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

  it('RWMutex, Semaphore, Permit and bounded holds', () => {
    expectTypeOf<RWMutex['readLock']>().returns.resolves.toEqualTypeOf<Lock>();
    expectTypeOf<RWMutex['tryWriteLock']>().returns.resolves.toEqualTypeOf<Lock | null>();
    expectTypeOf<Semaphore['acquire']>().returns.resolves.toEqualTypeOf<Permit>();
    expectTypeOf<Semaphore['tryAcquire']>().returns.resolves.toEqualTypeOf<Permit | null>();
    expectTypeOf<Permit>().toExtend<Lock>();
    expectTypeOf<Permit['weight']>().toBeNumber();
    expectTypeOf<Lock['extend']>().returns.resolves.toBeVoid();
    expectTypeOf<LockOptions['maxHold']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<api.PermitsMismatchError>().toExtend<api.EtcdConcurrencyError>();
    expectTypeOf<api.LockUpgradeError>().toExtend<api.EtcdConcurrencyError>();
    expectTypeOf<api.HoldExpiredError['heldFor']>().toBeNumber();
  });

  it('Election, Leadership and LeaderElector', () => {
    expectTypeOf<Election['campaign']>().returns.resolves.toEqualTypeOf<Leadership>();
    expectTypeOf<Election['leader']>().returns.resolves.toEqualTypeOf<LeaderInfo | undefined>();
    expectTypeOf<ReturnType<Election['observe']>>().toExtend<AsyncIterable<LeaderInfo | undefined>>();
    expectTypeOf<LeaderInfo['fencingToken']>().toEqualTypeOf<bigint>();
    expectTypeOf<Leadership['fencingToken']>().toEqualTypeOf<bigint>();
    expectTypeOf<Leadership['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<Leadership['proclaim']>().returns.resolves.toBeVoid();
    expectTypeOf<Leadership['ifLeader']>().returns.toEqualTypeOf<ComparatorBuilder>();
    expectTypeOf<Leadership>().toExtend<AsyncDisposable>();
    expectTypeOf<LeaderElector['healthy']>().returns.toBeBoolean();
    expectTypeOf<LeaderElector['isLeader']>().toBeBoolean();
    expectTypeOf<LeaderElector['start']>().returns.resolves.toBeVoid();
    expectTypeOf<LeaderElector['stop']>().returns.resolves.toBeVoid();
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
