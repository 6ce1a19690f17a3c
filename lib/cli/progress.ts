import type { Etcd3, IKeyValue } from 'etcd3';

/** What {@link reportProgress} watches, and where it reports. */
export interface ProgressOptions {
  /** The lock or election name: its queue is the keys directly under `name/`. */
  readonly name: string;
  /** Our session's lease (decimal, as etcd3 gives it): our key is the entry on it. */
  readonly lease: string;
  /** `the lock "x"` or `the leadership of "x"`: for the lines. */
  readonly what: string;
  /** `holder` or `leader`: what the first in the queue is called. */
  readonly first: string;
  /** Where the lines go (stderr). */
  readonly log: (line: string) => void;
}

/**
 * `--verbose`: while we wait, says where we are in the queue, e.g.
 * `waiting for the lock "x": 2 ahead, holder x/694d…`, once at the start and again each time the
 * number ahead or the holder changes (every change under `name/` makes it read the queue again).
 * Best effort: a failure is reported once and stops the reports, never the wait.
 *
 * @returns a function that stops the reports at once (and cancels the watch in the background).
 */
export function reportProgress(client: Etcd3, options: ProgressOptions): () => void {
  const { name, lease, what, first, log } = options;
  const prefix = `${name}/`;
  let stopped = false;
  let last = '';
  let running: Promise<void> | undefined;
  let again = false;

  const describe = (kvs: IKeyValue[]): string => {
    const entries = kvs.filter(kv => !kv.key.toString().includes('/', prefix.length));
    const mine = entries.findIndex(kv => kv.lease === lease);
    if (mine === -1) return `waiting for ${what}: joining the queue`;
    if (mine === 0) return '';
    return `waiting for ${what}: ${mine} ahead, ${first} ${entries[0]!.key.toString()}`;
  };
  const fail = (error: unknown): void => {
    if (stopped) return;
    stopped = true;
    log(`--verbose: cannot follow the queue of "${name}" (${error instanceof Error ? error.message : String(error)}); still waiting`);
  };
  // One read at a time; a change during a read asks for one more, so the last line is never stale.
  const update = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        const res = await client.getAll().prefix(prefix).sort('Create', 'Ascend').exec();
        const line = describe(res.kvs);
        if (!stopped && line !== '' && line !== last) log(line);
        last = line;
      } while (again && !stopped);
    })()
      .catch(fail)
      .finally(() => (running = undefined));
  };

  const watcher = client
    .watch()
    .prefix(prefix)
    .create()
    .then(w => {
      w.on('data', update);
      w.on('error', fail);
      update();
      return w;
    });
  watcher.catch(fail);

  return () => {
    // Nothing is awaited: a read or a watch still being set up must not delay what follows the wait.
    stopped = true;
    watcher.then(w => w.cancel()).catch(() => undefined);
  };
}
