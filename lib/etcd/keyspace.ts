import { Range, type Namespace } from 'etcd3';

/**
 * Translates keys between the caller's view (relative to an etcd3 `Namespace`) and the bytes etcd
 * stores, for the raw RPCs the library issues.
 */
export class Keyspace {
  private readonly ns: Buffer;
  private readonly ranges = new Map<string, { readonly key: Buffer; readonly range_end: Buffer }>();

  constructor(client: Namespace) {
    this.ns = client.prefix;
  }

  /** The stored bytes of a relative key. */
  key(relative: string): Buffer {
    return Buffer.concat([this.ns, Buffer.from(relative)]);
  }

  /**
   * The stored range of every key starting with a relative prefix. Do not change the buffers: the
   * ranges of the last few hundred prefixes are kept, since every lock and unlock of a name asks
   * for its range.
   */
  prefix(relative: string): { readonly key: Buffer; readonly range_end: Buffer } {
    let range = this.ranges.get(relative);
    if (!range) {
      const r = Range.prefix(this.key(relative));
      range = { key: r.start, range_end: r.end };
      if (this.ranges.size >= MAX_RANGES) this.ranges.clear();
      this.ranges.set(relative, range);
    }
    return range;
  }

  /** The relative form of stored key bytes. */
  relative(stored: Buffer): string {
    return stored.subarray(this.ns.length).toString();
  }
}

/** Prefix ranges kept per keyspace, at most (see {@link Keyspace.prefix}). */
const MAX_RANGES = 256;

const keyspaces = new WeakMap<Namespace, Keyspace>();

/** The keyspace of `client`, shared by everything that uses the same client object. */
export function keyspaceOf(client: Namespace): Keyspace {
  let keys = keyspaces.get(client);
  if (!keys) keyspaces.set(client, (keys = new Keyspace(client)));
  return keys;
}
