import type { Etcd3, IKeyValue } from 'etcd3';
import { clock } from './clock.js';

/**
 * The queue protocol the Mutex speaks, written with bare etcd3 calls and nothing else: no own-key
 * watch, no retry policy, no signals. It is the floor a lock built this way can reach on etcd, so
 * the bench can show how much of a figure is etcd's and how much is the library's.
 */
export class RawQueue {
  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
  ) {}

  private get end(): Buffer {
    return Buffer.from(`${this.prefix.slice(0, -1)}${String.fromCharCode(this.prefix.charCodeAt(this.prefix.length - 1) + 1)}`);
  }

  /** One page of keys created up to `maxCreateRevision`, newest first. */
  private page(maxCreateRevision?: string) {
    return {
      key: Buffer.from(this.prefix),
      range_end: this.end,
      sort_order: 'Descend' as const,
      sort_target: 'Create' as const,
      limit: 8,
      keys_only: true,
      ...(maxCreateRevision ? { max_create_revision: maxCreateRevision } : {}),
    };
  }

  private predecessor(kvs: IKeyValue[], key: string, revision: string): string | undefined {
    const older = kvs.filter(kv => kv.key.toString() !== key && BigInt(kv.create_revision) < BigInt(revision));
    return older[0]?.key.toString();
  }

  /** Creates `<prefix><id>` on `lease` and returns its create revision and predecessor. */
  async create(id: string, lease: string): Promise<{ key: string; revision: string; predecessor: string | undefined }> {
    const key = `${this.prefix}${id}`;
    const res = await this.client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [
        { request_put: { key: Buffer.from(key), value: Buffer.alloc(0), lease } },
        { request_range: this.page() },
      ],
    });
    const revision = res.header.revision;
    return { key, revision, predecessor: this.predecessor(res.responses[1]?.response_range.kvs ?? [], key, revision) };
  }

  /** Deletes `key` if its create revision is still `revision`. */
  async remove(key: string, revision: string): Promise<void> {
    await this.client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: revision }],
      success: [{ request_delete_range: { key: Buffer.from(key) } }],
    });
  }

  /**
   * Waits for every older key to go, watching one predecessor at a time; returns the time the
   * turn came. With `reread: false` a deletion of the predecessor is taken as our turn without
   * reading etcd again (right only when the predecessor was the holder, as in the bench).
   */
  async waitTurn(key: string, revision: string, predecessor: string | undefined, reread = true): Promise<number> {
    while (predecessor) {
      const watcher = await this.client.watch().key(predecessor).only('delete').create();
      try {
        const gone = new Promise<number>(resolve => watcher.once('delete', () => resolve(clock())));
        const now = await this.client.kv.range(this.page(revision));
        if (this.predecessor(now.kvs, key, revision) !== predecessor) {
          predecessor = this.predecessor(now.kvs, key, revision);
          continue;
        }
        const at = await gone;
        if (!reread) return at;
        const after = await this.client.kv.range(this.page(revision));
        predecessor = this.predecessor(after.kvs, key, revision);
      } finally {
        void watcher.cancel();
      }
    }
    return clock();
  }
}
