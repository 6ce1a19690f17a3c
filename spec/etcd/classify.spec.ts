import { describe, expect, it } from 'vitest';
import { codeOf, isLeaseGone, isPermissionError, isSilence, isStaleToken, isTransient } from '../../lib/etcd/classify.js';

/** A gRPC error as grpc-js makes it: a plain Error with a numeric code. */
const grpc = (code: number, details: string): Error => Object.assign(new Error(`${code} ${['', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', '', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', '', 'OUT_OF_RANGE', '', 'INTERNAL', 'UNAVAILABLE', '', 'UNAUTHENTICATED'][code]}: ${details}`), { code, details });

/** An error of an etcd3 class from another installed copy: same name and message, different identity. */
function foreign(className: string, message: string): Error {
  const ctor = { [className]: class extends Error {} }[className]!;
  return new ctor(message);
}

describe('error classification (no etcd)', () => {
  it('reads the gRPC code from the error, from an etcd3 class name, or from the message', () => {
    expect(codeOf(grpc(14, 'No connection established'))).toBe(14);
    expect(codeOf(foreign('GRPCUnavailableError', 'whatever'))).toBe(14);
    expect(codeOf(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe(4);
    expect(codeOf('not an error')).toBeUndefined();
  });

  it('outages and leader elections are transient, also as errors of another copy of etcd3', () => {
    expect(isTransient(grpc(14, 'No connection established'))).toBe(true);
    expect(isTransient(grpc(4, 'Deadline exceeded'))).toBe(true);
    expect(isTransient(foreign('GRPCUnavailableError', '14 UNAVAILABLE: x'))).toBe(true);
    expect(isTransient(foreign('BrokenCircuitError', 'open'))).toBe(true);
    expect(isTransient(new Error('etcdserver: leader changed'))).toBe(true);
    expect(isTransient(new Error('etcdserver: request timed out'))).toBe(true);
  });

  it('permission, TLS and size errors are not transient', () => {
    expect(isTransient(grpc(7, 'etcdserver: permission denied'))).toBe(false);
    expect(isPermissionError(grpc(7, 'etcdserver: permission denied'))).toBe(true);
    expect(isPermissionError(foreign('EtcdRoleNotGrantedError', 'etcdserver: role is not granted to the user'))).toBe(true);
    expect(isPermissionError(grpc(3, 'etcdserver: user name is empty'))).toBe(true);
    expect(isTransient(grpc(14, 'SSL routines:ssl3_get_record:wrong version number'))).toBe(false);
    expect(isTransient(grpc(8, 'Received message larger than max (5000000 vs. 4194304)'))).toBe(false);
    expect(isTransient(grpc(3, 'etcdserver: request is too large'))).toBe(false);
  });

  it('a stale auth token is retried after authenticating again, not a permission error', () => {
    const stale = grpc(16, 'etcdserver: invalid auth token');
    expect(isStaleToken(stale)).toBe(true);
    expect(isPermissionError(stale)).toBe(false);
    expect(isTransient(stale)).toBe(true);
  });

  it('tells a gone lease, and a member that said nothing from one that answered', () => {
    expect(isLeaseGone(grpc(5, 'etcdserver: requested lease not found'))).toBe(true);
    expect(isLeaseGone(foreign('EtcdLeaseInvalidError', 'lease 123 invalid'))).toBe(true);
    expect(isSilence(grpc(4, 'Deadline exceeded after 1.0s'))).toBe(true);
    expect(isSilence(grpc(14, 'etcdserver: leader changed'))).toBe(false);
  });
});
