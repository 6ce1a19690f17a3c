import { Election } from '../index.js';
import { validateValue } from '../election/leadership.js';
import { validateName } from '../util/validate.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { holdingExitCodes, holdingOptions, runHeld } from './held.js';
import { listen } from './listen.js';
import { positionals } from './positionals.js';

/** `etcd-concurrency elect <name> <value> [-- <command...>]` and `elect --listen <name>`. */
export const electCommand: Command = {
  name: 'elect',
  usage: 'elect <name> <value> [options] [-- <command> [args...]]\n       etcd-concurrency elect --listen <name> [options]',
  summary: 'run a command only while this process is the elected leader, or watch who leads',
  details: [
    'Campaigns in the election <name> with <value> (e.g. host:port; what `status` and',
    '`etcdctl elect -l <name>` show for the leader), waits until it leads (candidates are served in',
    'the order they campaigned), runs the command, and resigns when the command exits so the next',
    'candidate takes over at once. Interoperates with `etcdctl elect` and the Go client.',
    '',
    'Without a command (no "--"), it prints its key and <value> on two lines once it leads, as',
    '`etcdctl elect <name> <value>` does, and leads until SIGINT, SIGTERM or SIGHUP: then it resigns',
    'and exits 0. If leadership is lost meanwhile, it exits 75.',
    '',
    'With --listen (-l), it campaigns for nothing: it prints the leader\'s key and value on two lines,',
    'as `etcdctl elect -l <name>` does, at once and again each time the leader or its value changes,',
    'until SIGINT, SIGTERM or SIGHUP (exit 0). While there is no leader it prints nothing, as etcdctl;',
    'with --verbose, stderr says "no leader".',
    '',
    'The command gets, on top of this environment:',
    '  ETCD_ELECTION_KEY   our key in etcd, <name>/<lease id in hex>',
    '  ETCD_ELECTION_REV   the etcd revision at which leadership was confirmed',
    '  ETCD_FENCING_TOKEN  the key\'s create revision, strictly greater than every earlier leader\'s',
    '  ETCD_LEASE_ID       the session\'s lease (hex)',
    '',
    'The command runs in its own process group, which gets the terminal when this CLI has it.',
    'SIGINT, SIGTERM and SIGHUP sent to this CLI are forwarded to it. If leadership is lost (lease',
    'expired or revoked, key deleted), the group gets SIGTERM, then SIGKILL after --grace, and the CLI',
    'exits 75. Run it under a supervisor that restarts it to campaign again.',
  ],
  exitCodes: [
    ...holdingExitCodes('leadership'),
    { code: '0', meaning: 'with --listen: stopped by SIGINT, SIGTERM or SIGHUP' },
  ],
  options: {
    ...holdingOptions,
    listen: { type: 'boolean', short: 'l', description: 'print the leader (key, then value) now and at every change, until a signal' },
  },
  async run(line, io) {
    if (line.values.listen === true) {
      const name = validateName(positionals(line, 'elect --listen', ['name'])[0]);
      const misplaced = line.flags.find(flag => ['--ttl', '--timeout', '--grace'].includes(flag));
      if (misplaced !== undefined) throw new UsageError(`elect --listen does not take ${misplaced}`, 'elect');
      if (line.program !== undefined) throw new UsageError('elect --listen runs no command: remove "--" and what follows', 'elect');
      return listen(line, io, name);
    }
    const [rawName, value] = positionals(line, 'elect', ['name', 'value']) as [string, string];
    const name = validateName(rawName);
    validateValue(value);
    return runHeld(line, io, 'elect', {
      what: `the leadership of "${name}"`,
      first: 'leader',
      name,
      acquire: (session, options) => new Election(session, name).campaign(value, options),
      environment: (leadership, revision) => ({
        ETCD_ELECTION_KEY: leadership.key,
        ETCD_ELECTION_REV: revision,
        ETCD_FENCING_TOKEN: leadership.fencingToken.toString(),
        ETCD_LEASE_ID: leadership.leaseId,
      }),
      holdLines: leadership => [leadership.key, value],
    });
  },
};
