import { Etcd3 } from 'etcd3';
import { queryLock } from '../queue/query.js';
import { validateName } from '../util/validate.js';
import type { CommandLine } from './args.js';
import type { Command, Io } from './command.js';
import { connectionFrom } from './connection.js';
import { ExitCode, commonExitCodes } from './exit-codes.js';
import { positionals } from './positionals.js';

/** One key in a lock's or election's queue, as `status` reports it. */
export interface QueueRow {
  /** 0 for the holder (or leader), then 1, 2, … for the waiters in the order they will be served. */
  readonly position: number;
  readonly key: string;
  /** The key's lease in hex, as etcdctl prints it; `0` for a key without a lease. */
  readonly lease: string;
  /** Seconds the lease has left (etcd's `LeaseTimeToLive`); `null` without a lease, `-1` once expired. */
  readonly ttl: number | null;
  /** The key's create revision: its place in the queue, and its holder's fencing token. */
  readonly createRevision: string;
  readonly value: string;
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
    '`etcdctl lease revoke <lease>` frees it by force.',
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
      description: 'print a JSON array instead of a table: {position, key, lease, ttl, createRevision, value} per key',
    },
  },
  async run(line: CommandLine, io: Io) {
    const name = validateName(positionals(line, 'status', ['name'])[0]);
    const connection = connectionFrom(line.values, io.env);
    const client = new Etcd3(connection.clientOptions);
    try {
      const rows = await readQueue(client, name, connection.dialTimeout);
      if (line.values.json === true) io.out(JSON.stringify(rows, null, 2));
      else for (const text of formatQueue(name, rows)) io.out(text);
      return ExitCode.ok;
    } finally {
      client.close();
    }
  },
};

/** Reads the queue of `name` through the library's {@link queryLock}, oldest first. */
export async function readQueue(client: Etcd3, name: string, timeout: number): Promise<QueueRow[]> {
  const { held, pending } = await queryLock(client, name, { timeout });
  return [...held, ...pending].map(
    (member, position): QueueRow => ({
      position,
      key: member.key,
      lease: member.leaseId,
      ttl: member.ttl,
      createRevision: member.fencingToken.toString(),
      value: member.value,
    }),
  );
}

/** The human-readable table of {@link readQueue}'s rows. */
export function formatQueue(name: string, rows: readonly QueueRow[]): string[] {
  if (rows.length === 0) return [`"${name}" is free: no holder, no waiters.`];
  const waiters = rows.length - 1;
  const header = ['POS', 'ROLE', 'KEY', 'LEASE', 'TTL', 'CREATE-REV', 'VALUE'];
  const table = rows.map(row => [
    String(row.position),
    row.position === 0 ? 'holder' : 'waiter',
    row.key,
    row.lease,
    row.ttl === null ? '-' : row.ttl < 0 ? 'expired' : `${row.ttl}s`,
    row.createRevision,
    printable(row.value),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(cells => cells[i]!.length)));
  const render = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    `"${name}": held by ${rows[0]!.key}, ${waiters} waiter${waiters === 1 ? '' : 's'}`,
    render(header),
    ...table.map(render),
  ];
}

/** A value as one line: quoted when it holds anything unprintable, cut after 60 characters. */
function printable(value: string): string {
  const short = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(short) ? JSON.stringify(short) : short;
}
