/**
 * The key layout, shared with etcd's own tools (`etcdctl lock`, `etcdctl elect`, Go's `concurrency`):
 * name `N` owns the prefix `N/`, and a session's key under it is `N/<lease id in hex>`. Where one
 * session has several waiters on the same name at once, the others get `N/<lease id>_<slot>`.
 */
export function prefixOf(name: string): string {
  return `${name}/`;
}

/** Our key under `prefix` for the given lease and slot. */
export function keyOf(prefix: string, leaseId: string, slot: number): string {
  return slot === 0 ? `${prefix}${leaseId}` : `${prefix}${leaseId}_${slot}`;
}

/**
 * Whether `key` is a queue entry of `prefix`: a direct child. Keys of a longer name (`a/b/…` under
 * `a/`) belong to that other lock, so `a` and `a/b` are independent.
 */
export function isEntryOf(prefix: string, key: string): boolean {
  return key.length > prefix.length && key.startsWith(prefix) && !key.includes('/', prefix.length);
}
