// `npm test` runs this first: in a second, is there an etcd to test against? If the etcd binaries
// are missing and we are root on Debian, it installs them; otherwise it says in one line what to
// do and exits 1, before the type check and the lint. The suite then picks the same mode
// (spec/support/target.ts).
import { connect } from 'node:net';
import { dockerAnswers, endpointsFromEnv, selectedMode } from '../../harness/environment.js';
import { ensureEtcdInstalled, nodeTooOld } from '../../harness/install.js';

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

/** Resolves true when a TCP connection to `url`'s host and port opens within 1 s. */
function reachable(url: string): Promise<boolean> {
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url);
    host = parsed.hostname.replace(/^\[|\]$/g, '');
    port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 2379));
  } catch {
    return Promise.resolve(false);
  }
  return new Promise(resolve => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

const old = nodeTooOld();
if (old) fail(old);

switch (selectedMode()) {
  case 'endpoints': {
    const endpoints = endpointsFromEnv();
    const answers = await Promise.all(endpoints.map(reachable));
    if (!answers.some(Boolean)) {
      fail(`ETCD_ENDPOINTS=${endpoints.join(',')}: no endpoint accepts a connection. Start that cluster (e.g. docker compose up), or unset ETCD_ENDPOINTS to use a local etcd.`);
    }
    break;
  }
  case 'testcontainers':
    if (!(await dockerAnswers())) {
      fail('ETCD_TESTCONTAINERS=1, but no Docker daemon answers (start it: dockerd, or systemctl start docker), or unset ETCD_TESTCONTAINERS to use a local etcd.');
    }
    break;
  case 'local': {
    const problem = ensureEtcdInstalled();
    if (problem) fail(problem);
    break;
  }
}
