import { Mutex } from '../lock/mutex.js';
import { validateName } from '../util/validate.js';
import type { Command } from './command.js';
import { holdingOptions, runHeld } from './held.js';
import { positionals } from './positionals.js';

/** `etcd-concurrency lock <name> -- <command...>`: runs a command while holding a lock. */
export const lockCommand: Command = {
  name: 'lock',
  usage: 'lock <name> [options] -- <command> [args...]',
  summary: 'run a command while holding a fair, fenced lock',
  details: [
    'Waits its turn for the lock (first come, first served), runs the command while holding it, and',
    'releases it when the command exits. Interoperates with `etcdctl lock <name>` and the Go client.',
    '',
    'The command gets, on top of this environment:',
    '  ETCD_LOCK_KEY       the lock key in etcd, <name>/<lease id in hex> (as etcdctl lock sets it)',
    '  ETCD_LOCK_REV       the etcd revision at which the lock was confirmed held (as etcdctl lock)',
    '  ETCD_FENCING_TOKEN  the key\'s create revision: pass it to whatever the lock protects and have',
    '                      it refuse writes with a smaller token than one it has seen',
    '  ETCD_LEASE_ID       the session\'s lease (hex)',
    '',
    'The command runs in its own process group. SIGINT, SIGTERM and SIGHUP sent to this CLI are',
    'forwarded to it. If the lock is lost (lease expired or revoked, key deleted), the group gets',
    'SIGTERM, then SIGKILL after --grace, and the CLI exits 75.',
  ],
  options: holdingOptions,
  async run(line, io) {
    const name = validateName(positionals(line, 'lock', ['name'])[0]);
    return runHeld(line, io, 'lock', {
      what: `the lock "${name}"`,
      name,
      acquire: (session, options) => new Mutex(session, name).lock(options),
      environment: (lock, revision) => ({
        ETCD_LOCK_KEY: lock.key,
        ETCD_LOCK_REV: revision,
        ETCD_FENCING_TOKEN: lock.fencingToken.toString(),
        ETCD_LEASE_ID: lock.leaseId,
      }),
    });
  },
};
