export { Session, type SessionOptions } from './session.js';
export { Mutex, type LockOptions } from './mutex.js';
export { Lock } from './lock.js';
export { defaultRetryPolicy, isTransient } from './policy.js';
export {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  LeaseLostError,
  LockTimeoutError,
  NotHeldError,
  OwnershipLostError,
  PermissionDeniedError,
  SessionClosedError,
  type LeaseLossReason,
} from './errors.js';
