/**
 * What an error from etcd means, decided by its gRPC status code and etcd's message, never by class
 * identity: with two copies of etcd3 installed (the user's and ours), `instanceof` and etcd3's
 * per-copy markers give false answers, while codes, messages and class names do not.
 */

/** gRPC status codes (grpc/status.proto). */
export const Code = {
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  OutOfRange: 11,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** etcd3 casts gRPC errors to classes that drop `code`; their names still say it. */
const CODE_OF_CLASS: Record<string, number> = {
  GRPCCancelledError: Code.Cancelled,
  GRPCUnknownError: Code.Unknown,
  GRPCInvalidArgumentError: Code.InvalidArgument,
  GRPCDeadlineExceededError: Code.DeadlineExceeded,
  GRPCNotFoundError: Code.NotFound,
  EtcdPermissionDeniedError: Code.PermissionDenied,
  GRPCResourceExhastedError: Code.ResourceExhausted,
  GRPCFailedPreconditionError: Code.FailedPrecondition,
  GRPCOutOfRangeError: Code.OutOfRange,
  GRPCInternalError: Code.Internal,
  GRPCUnavailableError: Code.Unavailable,
  GRPCConnectFailedError: Code.Unavailable,
  GRPCUnauthenticatedError: Code.Unauthenticated,
};

/** The gRPC status code of an error, when it has or implies one. */
export function codeOf(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return code;
  const fromClass = CODE_OF_CLASS[error.constructor.name];
  if (fromClass !== undefined) return fromClass;
  const fromMessage = /^(\d{1,2}) [A-Z_]+:/.exec(error.message);
  return fromMessage ? Number(fromMessage[1]) : undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The TLS handshake failed (wrong CA, client certificate missing or refused, name mismatch, not TLS). */
export function isTlsFailure(error: unknown): boolean {
  return /SSL routines|alert (bad|unknown|unsupported|expired|revoked) certificate|alert unknown ca|certificate required|unable to verify|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|does not match certificate's altnames|wrong version number/i.test(
    message(error),
  );
}

/** etcd (`--max-request-bytes`) or its gRPC server (that plus 512 KiB) refused a request as too large. */
export function isTooLarge(error: unknown): boolean {
  return /etcdserver: request is too large|received message larger than max/i.test(message(error));
}

/** etcd refused the request for lack of permission, or could not tell who we are. */
export function isPermissionError(error: unknown): boolean {
  const code = codeOf(error);
  const text = message(error);
  return (
    code === Code.PermissionDenied ||
    /etcdserver: (permission denied|role is not granted to the user|authentication failed|user name is empty)/.test(text) ||
    (code === Code.Unauthenticated && !isStaleToken(error))
  );
}

/** etcd refused a call or watch because the auth token it carried is no longer valid: authenticate again. */
export function isStaleToken(error: unknown): boolean {
  return /etcdserver: (invalid auth token|revision of auth store is old)/.test(message(error));
}

/** etcd no longer knows the lease the request named (revoked, or expired). */
export function isLeaseGone(error: unknown): boolean {
  return /etcdserver: requested lease not found/.test(message(error)) || error?.constructor?.name === 'EtcdLeaseInvalidError';
}

/** The revision asked for was compacted away. */
export function isCompacted(error: unknown): boolean {
  return /compacted/i.test(message(error));
}

/**
 * A failure worth retrying: the connection dropped, a member is down or frozen, etcd is electing a
 * leader, an attempt hit its deadline. Permission, argument, TLS and size errors are not transient:
 * the next attempt fails the same way.
 */
export function isTransient(error: unknown): boolean {
  if (isTlsFailure(error) || isTooLarge(error) || isPermissionError(error)) return false;
  if (error instanceof Error && (error.name === 'BrokenCircuitError' || error.constructor.name === 'BrokenCircuitError')) return true;
  if (isStaleToken(error)) return true;
  switch (codeOf(error)) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.ResourceExhausted:
    case Code.Internal:
    case Code.Unknown:
      return true;
    default:
      return /etcdserver: (leader changed|request timed out|no leader|too many requests)/.test(message(error));
  }
}

/**
 * The member did not answer at all (rather than answering with an error): a frozen or partitioned
 * member, a dead connection. Such a member is avoided until it answers again.
 */
export function isSilence(error: unknown): boolean {
  const code = codeOf(error);
  return (code === Code.Unavailable || code === Code.DeadlineExceeded) && !/etcdserver:/.test(message(error));
}
