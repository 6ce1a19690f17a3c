/**
 * Node warnings the CLI keeps off its stderr, by code. Only these: any other warning still prints.
 *
 * - `DEP0123` "Setting the TLS ServerName to an IP address is not permitted by RFC 6066": gRPC
 *   (`@grpc/grpc-js`, under etcd3) sets the TLS server name to the endpoint's host, so every TLS
 *   connection to an IP address (`--endpoints https://10.0.0.1:2379`, the usual way to name etcd
 *   members) printed it. Harmless: Node ignores the name for an IP, and the certificate is still
 *   checked against the IP. Its cause is in gRPC; a library user's program sees it, the CLI's user
 *   should not.
 */
const SILENCED = new Set(['DEP0123']);

/** Wraps `process.emitWarning` so that warnings with a code in {@link SILENCED} are dropped. Call once, at start. */
export function silenceLibraryWarnings(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]): void => {
    if (SILENCED.has(codeOf(warning, rest) ?? '')) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** The code of a warning, in each of emitWarning's forms: (w, type, code), (w, {code}), or an Error with `code`. */
function codeOf(warning: string | Error, rest: unknown[]): string | undefined {
  if (warning instanceof Error && typeof (warning as NodeJS.ErrnoException).code === 'string') return (warning as NodeJS.ErrnoException).code;
  const [second, third] = rest;
  if (typeof second === 'object' && second !== null) return (second as { code?: string }).code;
  return typeof third === 'string' ? third : undefined;
}
