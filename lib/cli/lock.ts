import { Mutex } from '../index.js';
import { validateName } from '../util/validate.js';
import type { Command } from './command.js';
import { holdingExitCodes, holdingOptions, runHeld } from './held.js';
import { positionals } from './positionals.js';

/** `etcd-concurrency lock <name> [-- <command...>]`: runs a command while holding a lock, or holds it until a signal. */
export const lockCommand: Command = {
  name: 'lock',
  usage: 'lock <name> [options] [-- <command> [args...]]',
  summary: 'run a command while holding a fair, fenced lock, or hold it until a signal',
  details: [
    'Waits its turn for the lock (first come, first served), runs the command while holding it, and',
    'releases it when the command exits. Interoperates with `etcdctl lock <name>` and the Go client.',
    '',
    'Without a command (no "--"), it prints the lock key on one line, as `etcdctl lock <name>` does,',
    'then the fencing token on the next, and holds the lock until SIGINT, SIGTERM or SIGHUP: then it',
    'releases it and exits 0. If the lock is lost meanwhile, it exits 75.',
    '',
    'The command gets, on top of this environment:',
    '  ETCD_LOCK_KEY       the lock key in etcd, <name>/<lease id in hex> (as etcdctl lock sets it)',
    '  ETCD_LOCK_REV       the etcd revision at which the lock was confirmed held (as etcdctl lock)',
    '  ETCD_FENCING_TOKEN  the key\'s create revision: pass it to whatever the lock protects and have',
    '                      it refuse writes with a smaller token than one it has seen',
    '  ETCD_LEASE_ID       the session\'s lease (hex)',
    '',
    'The command runs in its own process group, which gets the terminal when this CLI has it (so',
    'sudo, ssh and git can prompt). SIGINT, SIGTERM and SIGHUP sent to this CLI are forwarded to it.',
    'If the lock is lost (lease expired or revoked, key deleted), the group gets SIGTERM, then SIGKILL',
    'after --grace, and the CLI exits 75.',
  ],
  exitCodes: holdingExitCodes('the lock'),
  options: holdingOptions,
  async run(line, io) {
    const name = validateName(positionals(line, 'lock', ['name'])[0]);
    return runHeld(line, io, 'lock', {
      what: `the lock "${name}"`,
      first: 'holder',
      name,
      acquire: (session, options) => new Mutex(session, name).lock(options),
      environment: (lock, revision) => ({
        ETCD_LOCK_KEY: lock.key,
        ETCD_LOCK_REV: revision,
        ETCD_FENCING_TOKEN: lock.fencingToken.toString(),
        ETCD_LEASE_ID: lock.leaseId,
      }),
      holdLines: lock => [lock.key, lock.fencingToken.toString()],
    });
  },
};
