import { validateName } from '../util/validate.js';
import type { Command } from './command.js';
import { ExitCode, type ExitCodeDoc } from './exit-codes.js';
import { holdingExitCodes, holdingOptions, runHeld } from './held.js';
import { lockModeOf, lockModeOptions } from './lock-mode.js';
import { positionals } from './positionals.js';

/** `lock`'s exit codes: those it shares with `elect`, and its own, in numeric order. */
function lockExitCodes(): ExitCodeDoc[] {
  const own: ExitCodeDoc[] = [
    { code: String(ExitCode.permitsMismatch), meaning: '-n: another participant on <name> uses another N; the command did not run, our key is deleted' },
    {
      code: String(ExitCode.holdExpired),
      meaning: '--max-hold: the hold reached its end; a running command got SIGTERM, then SIGKILL after --grace',
    },
  ];
  const codes = holdingExitCodes('the lock');
  const at = codes.findIndex(row => row.code === String(ExitCode.timedOut));
  codes.splice(at, 0, ...own);
  return codes;
}

/** `etcd-concurrency lock <name> [-- <command...>]`: runs a command while holding a lock, or holds it until a signal. */
export const lockCommand: Command = {
  name: 'lock',
  usage: 'lock <name> [-n N | --shared] [--max-hold DURATION] [options] [-- <command> [args...]]',
  summary: 'run a command while holding a fair, fenced lock, or hold it until a signal',
  details: [
    'Waits its turn for the lock (first come, first served), runs the command while holding it, and',
    'releases it when the command exits. Interoperates with `etcdctl lock <name>` and the Go client.',
    '',
    'With -n N, it takes one of N permits of a semaphore instead: up to N hold at once, served in',
    'order, as `consul lock -n`. N is stored with each key; one whose N differs from an older',
    'key\'s exits 78 without running. With --shared, it takes a read lock: every --shared on <name>',
    'holds it together, and a plain `lock` on <name> (or `etcdctl lock`) is a writer that waits for',
    'them and excludes them. -n and --shared do not go together. `status <name> --kind semaphore` or',
    '`--kind rwlock` shows who holds.',
    '',
    'Without a command (no "--"), it prints the lock key on one line, as `etcdctl lock <name>` does,',
    'then the fencing token on the next, and holds the lock until SIGINT, SIGTERM or SIGHUP: then it',
    'releases it and exits 0. If the lock is lost meanwhile, it exits 75.',
    '',
    'The command gets, on top of this environment:',
    '  ETCD_LOCK_KEY       the lock key in etcd, <name>/<lease id in hex> (as etcdctl lock sets it;',
    '                      with --shared, <name>/<lease id in hex>.read)',
    '  ETCD_LOCK_REV       the etcd revision at which the lock was confirmed held (as etcdctl lock)',
    '  ETCD_FENCING_TOKEN  the key\'s create revision: pass it to whatever the lock protects and have',
    '                      it refuse writes with a smaller token than one it has seen',
    '  ETCD_LEASE_ID       the session\'s lease (hex)',
    '',
    'The command runs in its own process group, which gets the terminal when this CLI has it (so',
    'sudo, ssh and git can prompt). SIGINT, SIGTERM and SIGHUP sent to this CLI are forwarded to it.',
    'If the lock is lost (lease expired or revoked, key deleted), the group gets SIGTERM, then SIGKILL',
    'after --grace, and the CLI exits 75.',
    '',
    'With --max-hold D, the hold ends D after it was granted even if the command still runs: a tenth',
    'of D (at most 1 s) before the end, the group gets SIGTERM, then SIGKILL after --grace, and the',
    'CLI exits 79 (without a command: it releases and exits 79). The key goes at the end, deleted by',
    'this CLI or, if it is stuck, by etcd; the command may outlive the hold by up to --grace.',
  ],
  exitCodes: lockExitCodes(),
  options: { ...holdingOptions, ...lockModeOptions },
  async run(line, io) {
    const name = validateName(positionals(line, 'lock', ['name'])[0]);
    const mode = lockModeOf(line, name);
    return runHeld(line, io, 'lock', {
      what: mode.what,
      first: 'holder',
      name,
      acquire: mode.acquire,
      environment: (lock, revision) => ({
        ETCD_LOCK_KEY: lock.key,
        ETCD_LOCK_REV: revision,
        ETCD_FENCING_TOKEN: lock.fencingToken.toString(),
        ETCD_LEASE_ID: lock.leaseId,
      }),
      holdLines: lock => [lock.key, lock.fencingToken.toString()],
      release: lock => lock.unlock(),
    });
  },
};
