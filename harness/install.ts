// The first run on a fresh machine: when the etcd binaries are missing and we may install Debian
// packages (root, apt-get), install them; otherwise say in one line what to do. Used by the test
// suite's preflight and by the demo.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { canApt, etcdRuns, noEtcdLine, runs } from './environment.js';

/** The oldest Node this project runs on (require(esm), and what package.json's engines says). */
export const MIN_NODE = [20, 19] as const;

/**
 * One line when this Node is too old, else undefined. Debian 12's own `nodejs` package is Node 18:
 * too old, so the line says where a newer one comes from.
 */
export function nodeTooOld(version = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return undefined;
  return (
    `Node ${version} is too old: etcd-concurrency needs Node >= ${MIN_NODE.join('.')} ` +
    "(Debian's own nodejs package is older: install Node 20 or 22 from nodejs.org, NodeSource or nvm)."
  );
}

/** The packages to install, each with the command it provides. */
const PACKAGES: [command: string, args: string[], pkg: string][] = [
  ['etcd', ['--version'], 'etcd-server'],
  ['etcdctl', ['version'], 'etcd-client'],
  ['openssl', ['version'], 'openssl'], // the TLS tests make their certificates with it
];

/** Runs a command quietly; on failure returns its output, on success undefined. */
function quiet(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) return result.error.message;
  if (result.status !== 0) return `${result.stdout}${result.stderr}`.trim().split('\n').slice(-3).join(' / ');
  return undefined;
}

/**
 * Makes sure the etcd binary runs here. If it does not, `ETCD_BIN` is unset and we are root on
 * Debian: `apt-get update`, then installs `etcd-server` and `etcd-client` (and `openssl` when
 * missing) without starting the system etcd service the package ships (it would hold port 2379),
 * and disables that service. Says what it does on `log`, one line.
 * @returns undefined when etcd runs, else one line saying what the user must do.
 */
export function ensureEtcdInstalled(log: (line: string) => void = line => console.error(line)): string | undefined {
  if (etcdRuns()) {
    // etcd is here; what else the tests use is installed when cheap, else those tests are skipped.
    const missing = PACKAGES.filter(([command, args], i) => i > 0 && !runs(command, args) && !(command === 'etcdctl' && process.env.ETCDCTL_BIN));
    if (missing.length > 0 && canApt()) install(missing.map(([, , pkg]) => pkg), log);
    return undefined;
  }
  if (process.env.ETCD_BIN) return noEtcdLine(); // a path the user chose: not ours to replace
  if (!canApt()) {
    const why = process.getuid?.() === 0 ? 'this is not a Debian-like system with apt-get' : 'not root, so it cannot be installed for you';
    return `${noEtcdLine()} (${why}.)`;
  }
  const missing = PACKAGES.filter(([command, args]) => !runs(command, args)).map(([, , pkg]) => pkg);
  const failed = install(missing, log);
  if (failed) return failed;
  return etcdRuns() ? undefined : `apt-get installed etcd-server, but "etcd --version" still fails. ${noEtcdLine()}`;
}

/** apt-get update && apt-get install, with services kept from starting; undefined or the error line. */
function install(packages: string[], log: (line: string) => void): string | undefined {
  log(`etcd-concurrency: installing ${packages.join(' ')} with apt-get (root, Debian: nothing to do by hand)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const updateFailed = quiet('apt-get', ['update', '-qq'], env);
  if (updateFailed) return `apt-get update failed (${updateFailed}). Install etcd by hand: apt-get install ${packages.join(' ')}.`;
  // Debian's convention for "do not start services from maintainer scripts": policy-rc.d exits 101.
  // The etcd-server package would otherwise start a system etcd on 127.0.0.1:2379.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const installFailed = quiet('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], env);
    if (installFailed) return `apt-get install ${packages.join(' ')} failed (${installFailed}).`;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  if (packages.includes('etcd-server')) {
    // Keep it off after a reboot too; stop it in case a policy of the machine's own let it start.
    if (runs('systemctl', ['--version'])) quiet('systemctl', ['disable', '--now', 'etcd']);
    if (runs('sh', ['-c', 'command -v update-rc.d'])) quiet('update-rc.d', ['etcd', 'disable']);
    if (existsSync('/etc/init.d/etcd')) quiet('/etc/init.d/etcd', ['stop']);
  }
  return undefined;
}
