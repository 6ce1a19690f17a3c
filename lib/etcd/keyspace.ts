import { Range, type Namespace } from 'etcd3';

/**
 * Translates keys between the caller's view (relative to an etcd3 `Namespace`) and the bytes etcd
 * stores, for the raw RPCs the library issues.
 */
export class Keyspace {
  private readonly ns: Buffer;

  constructor(client: Namespace) {
    this.ns = client.prefix;
  }

  /** The stored bytes of a relative key. */
  key(relative: string): Buffer {
    return Buffer.concat([this.ns, Buffer.from(relative)]);
  }

  /** The stored range of every key starting with a relative prefix. */
  prefix(relative: string): { key: Buffer; range_end: Buffer } {
    const range = Range.prefix(this.key(relative));
    return { key: range.start, range_end: range.end };
  }

  /** The relative form of stored key bytes. */
  relative(stored: Buffer): string {
    return stored.subarray(this.ns.length).toString();
  }
}

const keyspaces = new WeakMap<Namespace, Keyspace>();

/** The keyspace of `client`, shared by everything that uses the same client object. */
export function keyspaceOf(client: Namespace): Keyspace {
  let keys = keyspaces.get(client);
  if (!keys) keyspaces.set(client, (keys = new Keyspace(client)));
  return keys;
}
