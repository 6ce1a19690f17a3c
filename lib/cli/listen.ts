import { Etcd3 } from 'etcd3';
import { Election, Session } from '../index.js';
import type { CommandLine } from './args.js';
import type { Io } from './command.js';
import { connectionFrom } from './connection.js';
import { ExitCode } from './exit-codes.js';
import { SignalTrap } from './signals.js';

/** TTL of the lease `elect --listen` needs for its session, s; nothing is ever put on it. */
const LISTEN_TTL = 10;

/**
 * `elect --listen <name>`: prints the leader's key and value (two lines, as `etcdctl elect -l`) at
 * once and at every change, until SIGINT, SIGTERM or SIGHUP ({@link ExitCode.ok}). "No leader" prints
 * nothing on stdout (as etcdctl); with `--verbose`, stderr says so.
 *
 * It observes through the library's {@link Election.observe}, which needs a {@link Session}: the
 * session's lease carries no key, and is revoked at the end.
 */
export async function listen(line: CommandLine, io: Io, name: string): Promise<number> {
  const connection = connectionFrom(line.values, io.env);
  const verbose = line.values.verbose === true ? io.err : undefined;
  using trap = new SignalTrap();
  const client = new Etcd3(connection.clientOptions);
  let session: Session | undefined;
  try {
    session = await Session.create(client, {
      ttl: LISTEN_TTL,
      timeout: connection.dialTimeout,
      signal: trap.signal,
      callTimeout: connection.dialTimeout,
    });
    verbose?.(`connected to ${connection.endpoints.join(',')}; watching the leader of "${name}"`);
    for await (const leader of new Election(session, name).observe({ signal: trap.signal })) {
      if (leader) {
        io.out(leader.key);
        io.out(leader.value);
      } else {
        verbose?.(`no leader of "${name}"`);
      }
    }
    return ExitCode.ok;
  } finally {
    await session?.close().catch(() => undefined);
    client.close();
  }
}
