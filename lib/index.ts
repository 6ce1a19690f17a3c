export { Session, type SessionOptions } from './session/session.js';
export { Mutex, type LockOptions } from './lock/mutex.js';
export { Lock } from './lock/lock.js';
export { RWMutex, type TryLockOptions } from './lock/rw-mutex.js';
export { Semaphore, type AcquireOptions, type SemaphoreOptions } from './lock/semaphore.js';
export { Permit } from './lock/permit.js';
export { Election, type CampaignOptions, type ObserveOptions } from './election/election.js';
export { Leadership } from './election/leadership.js';
export { type LeaderInfo } from './election/observe.js';
export { queryLock, type QueryOptions, type QueueKind, type QueueMember, type QueueStatus } from './queue/query.js';
export { LeaderElector, type LeaderElectorOptions } from './election/leader-elector.js';
export { configureObservability, type ObservabilityOptions } from './observe/settings.js';
export { kubernetesLeaderView, metricNames } from './observe/metrics.js';
export {
  channelNames,
  type AcquiredMessage,
  type HoldLossReason,
  type LeaderChangedMessage,
  type LockKind,
  type LostMessage,
  type ReleasedMessage,
  type SessionLostMessage,
  type WaitFailedMessage,
  type WaitFailure,
  type WaitStartMessage,
} from './observe/channels.js';
export { defaultRetryPolicy, isTransient } from './etcd/call.js';
export { resilientClientOptions } from './etcd/client-options.js';
export { connectionSettingsFromEnv, etcdClientOptions, type ConnectionSettings } from './etcd/connection.js';
export {
  CallbackError,
  ElectorStoppedError,
  EtcdConcurrencyError,
  EtcdUnavailableError,
  HoldExpiredError,
  InvalidArgumentError,
  LeaseLostError,
  LockTimeoutError,
  LockUpgradeError,
  NotHeldError,
  NotLeaderError,
  OwnershipLostError,
  PermissionDeniedError,
  PermitsMismatchError,
  SessionClosedError,
  TlsHandshakeError,
  type LeaseLossReason,
} from './errors.js';
