import { Election } from '../election/election.js';
import { validateValue } from '../election/leadership.js';
import { validateName } from '../util/validate.js';
import type { Command } from './command.js';
import { holdingOptions, runHeld } from './held.js';
import { positionals } from './positionals.js';

/** `etcd-concurrency elect <name> <value> -- <command...>`: runs a command only while leader. */
export const electCommand: Command = {
  name: 'elect',
  usage: 'elect <name> <value> [options] -- <command> [args...]',
  summary: 'run a command only while this process is the elected leader',
  details: [
    'Campaigns in the election <name> with <value> (e.g. host:port; what `status` and',
    '`etcdctl elect -l <name>` show for the leader), waits until it leads (candidates are served in',
    'the order they campaigned), runs the command, and resigns when the command exits so the next',
    'candidate takes over at once. Interoperates with `etcdctl elect` and the Go client.',
    '',
    'The command gets, on top of this environment:',
    '  ETCD_ELECTION_KEY   our key in etcd, <name>/<lease id in hex>',
    '  ETCD_ELECTION_REV   the etcd revision at which leadership was confirmed',
    '  ETCD_FENCING_TOKEN  the key\'s create revision, strictly greater than every earlier leader\'s',
    '  ETCD_LEASE_ID       the session\'s lease (hex)',
    '',
    'The command runs in its own process group. SIGINT, SIGTERM and SIGHUP sent to this CLI are',
    'forwarded to it. If leadership is lost (lease expired or revoked, key deleted), the group gets',
    'SIGTERM, then SIGKILL after --grace, and the CLI exits 75. Run it under a supervisor that',
    'restarts it to campaign again.',
  ],
  options: holdingOptions,
  async run(line, io) {
    const [rawName, value] = positionals(line, 'elect', ['name', 'value']) as [string, string];
    const name = validateName(rawName);
    validateValue(value);
    return runHeld(line, io, 'elect', {
      what: `the leadership of "${name}"`,
      name,
      acquire: (session, options) => new Election(session, name).campaign(value, options),
      environment: (leadership, revision) => ({
        ETCD_ELECTION_KEY: leadership.key,
        ETCD_ELECTION_REV: revision,
        ETCD_FENCING_TOKEN: leadership.fencingToken.toString(),
        ETCD_LEASE_ID: leadership.leaseId,
      }),
    });
  },
};
