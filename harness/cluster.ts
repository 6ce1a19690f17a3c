import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { etcdBinaryName, runs } from './environment.js';
import { keepOnExit, reapOnExit, removeOnExit } from './reaper.js';

/** One etcd member of a throwaway cluster. */
export interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly metricsUrl: string;
  readonly dataDir: string;
  /** The member's stdout and stderr (zap JSON lines; `--log-level=error` unless `args` say otherwise). */
  readonly logFile: string;
  /** The running process, if any. */
  readonly pid: number | undefined;
  /** kill -9 the member; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the member again on the same ports and data; resolves when it serves requests. */
  restart(): Promise<void>;
  /** SIGSTOP: the member keeps its sockets but answers nothing (a frozen process). */
  freeze(): void;
  /** SIGCONT after {@link freeze}. */
  thaw(): void;
}

export interface Cluster {
  readonly endpoints: string[];
  readonly members: Member[];
  /** Extra flags every member was started with. */
  readonly args: readonly string[];
  /** kill -9 every member and remove the data directory. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Members. Default 3. */
  size?: number;
  /** Extra etcd flags for every member (e.g. `--auth-token-ttl=2`). */
  args?: string[];
  /** Scheme and TLS flags: given the member's name, returns flags; URLs then use https. */
  tls?: (member: string) => string[];
}

/** The etcd binary: `ETCD_BIN`, else `etcd` on PATH. */
export function etcdBinary(): string {
  const bin = etcdBinaryName();
  if (!runs(bin, ['--version'])) {
    throw new Error(`Cannot run the etcd binary "${bin}". Install it (Debian: apt-get install etcd-server) or set ETCD_BIN.`);
  }
  return bin;
}

/** Reserves `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return server;
    }),
  );
  const ports = servers.map(s => (s.address() as { port: number }).port);
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))));
  return ports;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a real etcd cluster on loopback in a temp dir and waits until every member is healthy.
 * Tear it down with `stop()` (SIGKILL: a member stopped with SIGTERM hands over leadership first
 * and can take seconds).
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const bin = etcdBinary();
  const size = options.size ?? 3;
  // Whatever ends this process (even SIGKILL), the members die and the directory goes with it. The
  // reaper hears of the directory before it exists, so no moment is left where it exists unknown.
  const dir = join(tmpdir(), `etcd-concurrency-${randomBytes(6).toString('hex')}`);
  removeOnExit(dir);
  await mkdir(dir, { mode: 0o700 });
  const ports = await freePorts(size * 3);
  const scheme = options.tls ? 'https' : 'http';
  const names = Array.from({ length: size }, (_, i) => `m${i + 1}`);
  const peerUrl = (i: number): string => `${scheme}://127.0.0.1:${ports[i * 3 + 1]}`;
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  const token = `t${process.pid}-${Date.now()}`;
  const args = options.args ?? [];

  const members = names.map((name, i): Member => {
    const clientUrl = `${scheme}://127.0.0.1:${ports[i * 3]}`;
    const metricsUrl = `http://127.0.0.1:${ports[i * 3 + 2]}`;
    const dataDir = join(dir, name);
    const logFile = join(dir, `${name}.log`);
    let child: ChildProcess | undefined;
    const flags = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl(i)}`,
      `--initial-advertise-peer-urls=${peerUrl(i)}`,
      `--listen-metrics-urls=${metricsUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${token}`,
      '--log-level=error',
      '--logger=zap',
      ...(options.tls?.(name) ?? []),
      ...args,
    ];
    const launch = (): void => {
      const log = openSync(logFile, 'a');
      child = spawn(bin, flags, { stdio: ['ignore', log, log] });
      closeSync(log);
      running.add(child);
      reapOnExit(child, dataDir);
      const started = child;
      started.once('exit', () => running.delete(started));
    };
    const member: Member = {
      name,
      clientUrl,
      peerUrl: peerUrl(i),
      metricsUrl,
      dataDir,
      logFile,
      get pid() {
        return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
      },
      async kill() {
        const victim = child;
        if (!victim || victim.exitCode !== null || victim.signalCode !== null) return;
        const exited = once(victim, 'exit');
        victim.kill('SIGCONT');
        victim.kill('SIGKILL');
        await exited;
      },
      async restart() {
        await member.kill();
        launch();
        await waitHealthy([metricsUrl]);
      },
      freeze() {
        child?.kill('SIGSTOP');
      },
      thaw() {
        child?.kill('SIGCONT');
      },
    };
    launch();
    return member;
  });

  const cluster: Cluster = {
    endpoints: members.map(m => m.clientUrl),
    members,
    args,
    async stop() {
      await Promise.all(members.map(m => m.kill()));
      await rm(dir, { recursive: true, force: true });
      keepOnExit(dir);
    },
  };
  try {
    await waitHealthy(members.map(m => m.metricsUrl));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * Waits until each metrics URL's `/health` says the member is healthy (it has a leader). The
 * metrics listener is plain HTTP even when clients use TLS.
 */
export async function waitHealthy(metricsUrls: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const url of metricsUrls) {
    for (;;) {
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`etcd member at ${url} not healthy after ${timeoutMs} ms`);
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  }
}
