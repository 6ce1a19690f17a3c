import { channel, type Channel } from 'node:diagnostics_channel';
import type { LeaseLostError, OwnershipLostError } from '../errors.js';

/**
 * Events for tracing and logging, published on `node:diagnostics_channel` channels. An APM or a
 * logger subscribes without the library depending on it; with no subscriber a channel costs one
 * property read (`hasSubscribers`) and no message is built.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import { channelNames, type LostMessage } from 'etcd-concurrency';
 * subscribe(channelNames.lost, message => {
 *   const m = message as LostMessage;
 *   log.warn(`lost ${m.name} after ${m.heldMs} ms: ${m.reason}`);
 * });
 * ```
 */

/** A kind of lock, as events and metrics name it. An election's campaign is a wait, its term a hold. */
export type LockKind = 'mutex' | 'election' | 'rwlock-read' | 'rwlock-write' | 'semaphore';

/** Why a hold ended without being released: the key was deleted, or the lease revoked, expired or closed. */
export type HoldLossReason = 'deleted' | 'lease-revoked' | 'lease-expired' | 'session-closed';

/** How a wait that did not acquire ended. `busy`: `tryLock()` found the lock taken. */
export type WaitFailure = 'timeout' | 'aborted' | 'lost' | 'busy' | 'error';

/** `etcd-concurrency:wait-start`: a `lock()`, `tryLock()` or `campaign()` started. */
export interface WaitStartMessage {
  readonly kind: LockKind;
  readonly name: string;
  /** The session's lease (hex). */
  readonly leaseId: string;
}

/** `etcd-concurrency:acquired`: a wait ended with the lock held (for an election: leading). */
export interface AcquiredMessage {
  readonly kind: LockKind;
  readonly name: string;
  readonly key: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
  /** Milliseconds from the call to the grant. */
  readonly waitMs: number;
}

/** `etcd-concurrency:wait-failed`: a wait ended without the lock; our key is deleted. */
export interface WaitFailedMessage {
  readonly kind: LockKind;
  readonly name: string;
  readonly leaseId: string;
  readonly outcome: WaitFailure;
  /** What the call rejected with; `undefined` for `busy` (`tryLock()` resolved `null`). */
  readonly error: unknown;
  readonly waitMs: number;
}

/** `etcd-concurrency:released`: a hold ended by `unlock()` or `resign()`. */
export interface ReleasedMessage {
  readonly kind: LockKind;
  readonly name: string;
  readonly key: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
  /** Milliseconds from the grant to the release. */
  readonly heldMs: number;
}

/** `etcd-concurrency:lost`: a hold ended without a release; its `signal` aborted with `error`. */
export interface LostMessage {
  readonly kind: LockKind;
  readonly name: string;
  readonly key: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
  readonly heldMs: number;
  readonly reason: HoldLossReason;
  readonly error: OwnershipLostError;
}

/** `etcd-concurrency:session-lost`: a session's lease was lost (not closed by us); `session.signal` aborted. */
export interface SessionLostMessage {
  readonly leaseId: string;
  /** `revoked`: etcd said the lease is gone; `expired`: no keepalive was acknowledged in time. */
  readonly reason: 'revoked' | 'expired';
  readonly error: LeaseLostError;
}

/** `etcd-concurrency:leader-changed`: this process started or stopped leading an election. */
export interface LeaderChangedMessage {
  readonly name: string;
  /** True when this process became the leader, false when its term ended. */
  readonly isLeader: boolean;
  readonly key: string;
  readonly leaseId: string;
  readonly fencingToken: bigint;
}

/** The channels' names. */
export const channelNames = {
  waitStart: 'etcd-concurrency:wait-start',
  acquired: 'etcd-concurrency:acquired',
  waitFailed: 'etcd-concurrency:wait-failed',
  released: 'etcd-concurrency:released',
  lost: 'etcd-concurrency:lost',
  sessionLost: 'etcd-concurrency:session-lost',
  leaderChanged: 'etcd-concurrency:leader-changed',
} as const;

/** @internal The channels themselves (Node keeps one channel object per name). */
export const channels: { readonly [K in keyof typeof channelNames]: Channel } = {
  waitStart: channel(channelNames.waitStart),
  acquired: channel(channelNames.acquired),
  waitFailed: channel(channelNames.waitFailed),
  released: channel(channelNames.released),
  lost: channel(channelNames.lost),
  sessionLost: channel(channelNames.sessionLost),
  leaderChanged: channel(channelNames.leaderChanged),
};
