/**
 * The key layout, shared with etcd's own tools (`etcdctl lock`, `etcdctl elect`, Go's `concurrency`):
 * name `N` owns the prefix `N/`, and a session's key under it is `N/<lease id in hex>`. Where one
 * session has several waiters on the same name at once, the others get `N/<lease id>_<slot>`.
 *
 * A reader of a read-write lock marks its key with the suffix {@link READER_MARKER}:
 * `N/<lease id>[_<slot>].read`. A lease id is hex and a slot decimal, so the `.` cannot be part of
 * either: the key stays parseable, and every key without the marker (a `Mutex`, `etcdctl lock`, a
 * writer, a semaphore entry) is a writer to the read-write rule.
 */
export function prefixOf(name: string): string {
  return `${name}/`;
}

/** The suffix of a reader's key: `N/<lease id>[_<slot>].read`. */
export const READER_MARKER = '.read';

/** Our key under `prefix` for the given lease and slot, with an optional marker (e.g. {@link READER_MARKER}). */
export function keyOf(prefix: string, leaseId: string, slot: number, marker = ''): string {
  return `${prefix}${leaseId}${slot === 0 ? '' : `_${slot}`}${marker}`;
}

/** Whether a queue entry's key says it is a reader's (ends with {@link READER_MARKER}). */
export function isReaderKey(key: string): boolean {
  return key.endsWith(READER_MARKER);
}

/**
 * Whether `key` is a queue entry of `prefix`: a direct child. Keys of a longer name (`a/b/…` under
 * `a/`) belong to that other lock, so `a` and `a/b` are independent.
 */
export function isEntryOf(prefix: string, key: string): boolean {
  return key.length > prefix.length && key.startsWith(prefix) && !key.includes('/', prefix.length);
}
