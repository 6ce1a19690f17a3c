export { Session, type SessionOptions } from './session.js';
export { Mutex, type LockOptions } from './mutex.js';
export { Lock } from './lock.js';
export { Election, type CampaignOptions, type ObserveOptions } from './election.js';
export { Leadership } from './leadership.js';
export { type LeaderInfo } from './leader-watch.js';
export { LeaderElector, type LeaderElectorOptions } from './leader-elector.js';
export { defaultRetryPolicy, isTransient } from './policy.js';
export { resilientClientOptions } from './client-options.js';
export { connectionSettingsFromEnv, etcdClientOptions, type ConnectionSettings } from './connection.js';
export {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  LeaseLostError,
  LockTimeoutError,
  NotHeldError,
  NotLeaderError,
  OwnershipLostError,
  PermissionDeniedError,
  SessionClosedError,
  TlsHandshakeError,
  type LeaseLossReason,
} from './errors.js';
