// What this machine offers for running etcd: the binaries, Docker, and the mode the environment
// asks for. Shared by the test suite (spec/support/), its preflight, and the demo. No vitest here.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';

/** Where the tests (and the demo) find etcd. */
export type Mode =
  /** Throwaway clusters of the local `etcd` binary (`ETCD_BIN` or PATH): the default. */
  | 'local'
  /** An existing cluster at `ETCD_ENDPOINTS`. */
  | 'endpoints'
  /** One etcd container started with testcontainers (`ETCD_TESTCONTAINERS=1`, needs Docker). */
  | 'testcontainers';

/** The mode `env` selects. */
export function selectedMode(env: NodeJS.ProcessEnv = process.env): Mode {
  if (env.ETCD_ENDPOINTS?.trim()) return 'endpoints';
  if (env.ETCD_TESTCONTAINERS === '1') return 'testcontainers';
  return 'local';
}

/** `ETCD_ENDPOINTS` split on commas. */
export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ETCD_ENDPOINTS ?? '').split(',').map(s => s.trim()).filter(Boolean);
}

/** The etcd binary's name or path: `ETCD_BIN`, else `etcd`. */
export function etcdBinaryName(env: NodeJS.ProcessEnv = process.env): string {
  return env.ETCD_BIN || 'etcd';
}

/** The etcdctl binary's name or path: `ETCDCTL_BIN`, else `etcdctl`. */
export function etcdctlBinaryName(env: NodeJS.ProcessEnv = process.env): string {
  return env.ETCDCTL_BIN || 'etcdctl';
}

/** True when `command args` runs and exits 0 (about 10 ms for etcd's `--version`). */
export function runs(command: string, args: string[]): boolean {
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 5000 });
  return !probe.error && probe.status === 0;
}

/** The local etcd binary runs. */
export function etcdRuns(env: NodeJS.ProcessEnv = process.env): boolean {
  return runs(etcdBinaryName(env), ['--version']);
}

/** The local etcdctl binary runs. */
export function etcdctlRuns(env: NodeJS.ProcessEnv = process.env): boolean {
  return runs(etcdctlBinaryName(env), ['version']);
}

/** The Docker daemon answers `/_ping` on its Unix socket (`DOCKER_HOST` unix://, or the default one) within 1 s. */
export function dockerAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return Promise.resolve(runs('docker', ['version'])); // tcp, ssh: ask the CLI
  const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise(resolve => {
    const req = request({ socketPath, path: '/_ping', timeout: 1000 }, res => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** We can install Debian packages ourselves: root, apt-get, a Debian-like system. */
export function canApt(): boolean {
  return process.getuid?.() === 0 && existsSync('/etc/debian_version') && runs('apt-get', ['--version']);
}

/**
 * One line saying how to get etcd, for a machine where we could not find or install it. Lists
 * every way the README supports.
 */
export function noEtcdLine(): string {
  return (
    `No etcd here: the etcd binary "${etcdBinaryName()}" does not run, ETCD_ENDPOINTS is unset, and ETCD_TESTCONTAINERS is not 1. ` +
    'Either install etcd (Debian/Ubuntu, as root: apt-get install etcd-server etcd-client; or set ETCD_BIN to its path), ' +
    'or set ETCD_ENDPOINTS=http://host:2379,... to a running cluster (docker compose up starts one), ' +
    'or set ETCD_TESTCONTAINERS=1 where Docker runs.'
  );
}
