import { Etcd3 } from 'etcd3';
import { queryLock, type QueueKind } from '../queue/query.js';
import { validateName } from '../util/validate.js';
import type { CommandLine } from './args.js';
import type { Command, Io } from './command.js';
import { connectionFrom } from './connection.js';
import { ExitCode, commonExitCodes } from './exit-codes.js';
import { positionals } from './positionals.js';

/** One key in a lock's or election's queue, as `status` reports it. */
export interface QueueRow {
  /** 0 for the oldest key, then 1, 2, … in queue order (the order waiters will be served in). */
  readonly position: number;
  /** `holder` (the leader, for an election) or `waiter`. */
  readonly role: 'holder' | 'waiter';
  readonly key: string;
  /** The key's lease in hex, as etcdctl prints it; `0` for a key without a lease. */
  readonly lease: string;
  /** Seconds the lease has left (etcd's `LeaseTimeToLive`); `null` without a lease, `-1` once expired. */
  readonly ttl: number | null;
  /** The key's create revision: its place in the queue, and its holder's fencing token. */
  readonly createRevision: string;
  readonly value: string;
  /** A read-write lock's entry: `read` or `write`; absent for other kinds. */
  readonly mode?: 'read' | 'write';
  /** A semaphore's entry: the permits it takes; absent for other kinds. */
  readonly weight?: number;
}

/** `etcd-concurrency status <name>`: the holder and every waiter of a lock or election. */
export const statusCommand: Command = {
  name: 'status',
  usage: 'status <name> [options]',
  summary: 'show the holder and every waiter of a lock or election, in queue order',
  details: [
    'Lists the keys directly under <name>/ oldest first: the first is the holder (the leader, for an',
    'election), the others wait in this order. For each: key, lease and its remaining TTL, create',
    'revision (= fencing token) and value. Use it to find out who holds a lock that seems stuck;',
    '`etcdctl lease revoke <lease>` frees it by force. A name nobody uses shows as free: etcd cannot',
    'tell a free lock from one that never existed.',
  ],
  exitCodes: [
    { code: String(ExitCode.ok), meaning: 'the queue was read (also when it is empty)' },
    commonExitCodes.failure,
    commonExitCodes.usage,
    commonExitCodes.unavailable,
    commonExitCodes.permissionDenied,
  ],
  options: {
    json: {
      type: 'boolean',
      description: 'print a JSON array instead of a table: {position, role, key, lease, ttl, createRevision, value} per key (and mode or weight for kinds that have them)',
    },
    kind: {
      type: 'string',
      value: 'KIND',
      description: 'what <name> is, which decides who holds: mutex (default), election, rwlock (lock --shared: readers share) or semaphore (lock -n)',
    },
  },
  async run(line: CommandLine, io: Io) {
    const name = validateName(positionals(line, 'status', ['name'])[0]);
    const connection = connectionFrom(line.values, io.env);
    const client = new Etcd3(connection.clientOptions);
    try {
      const kind = typeof line.values.kind === 'string' ? (line.values.kind as QueueKind) : undefined;
      const rows = await readQueue(client, name, connection.dialTimeout, kind);
      if (line.values.json === true) io.out(JSON.stringify(rows, null, 2));
      else for (const text of formatQueue(name, rows)) io.out(text);
      return ExitCode.ok;
    } finally {
      client.close();
    }
  },
};

/** Reads the queue of `name` through the library's {@link queryLock}, oldest first. */
export async function readQueue(client: Etcd3, name: string, timeout: number, kind?: QueueKind): Promise<QueueRow[]> {
  const { held, pending } = await queryLock(client, name, { timeout, kind });
  return [...held, ...pending].map(
    (member, position): QueueRow => ({
      position,
      role: position < held.length ? 'holder' : 'waiter',
      key: member.key,
      lease: member.leaseId,
      ttl: member.ttl,
      createRevision: member.fencingToken.toString(),
      value: member.value,
      ...(member.mode === undefined ? {} : { mode: member.mode }),
      ...(member.weight === undefined ? {} : { weight: member.weight }),
    }),
  );
}

/** The human-readable table of {@link readQueue}'s rows. */
export function formatQueue(name: string, rows: readonly QueueRow[]): string[] {
  if (rows.length === 0) return [`"${name}" is free: no holder, no waiters.`];
  const holders = rows.filter(row => row.role === 'holder');
  const waiters = rows.length - holders.length;
  const modes = rows.some(row => row.mode !== undefined);
  const weights = rows.some(row => row.weight !== undefined);
  const header = ['POS', 'ROLE', ...(modes ? ['MODE'] : []), ...(weights ? ['WEIGHT'] : []), 'KEY', 'LEASE', 'TTL', 'CREATE-REV', 'VALUE'];
  const table = rows.map(row => [
    String(row.position),
    row.role,
    ...(modes ? [row.mode ?? '-'] : []),
    ...(weights ? [row.weight === undefined ? '-' : String(row.weight)] : []),
    row.key,
    row.lease,
    row.ttl === null ? '-' : row.ttl < 0 ? 'expired' : `${row.ttl}s`,
    row.createRevision,
    printable(row.value),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(cells => cells[i]!.length)));
  const render = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const heldBy = holders.length === 0 ? 'no holder' : `held by ${holders.map(row => row.key).join(', ')}`;
  return [`"${name}": ${heldBy}, ${waiters} waiter${waiters === 1 ? '' : 's'}`, render(header), ...table.map(render)];
}

/** A value as one line: quoted when it holds anything unprintable, cut after 60 characters. */
function printable(value: string): string {
  const short = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(short) ? JSON.stringify(short) : short;
}
