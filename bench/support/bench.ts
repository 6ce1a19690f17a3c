import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { Session } from '../../lib/index.js';
import { startCluster, type Cluster } from '../../harness/cluster.js';
import { clock } from './clock.js';

const workersDir = fileURLToPath(new URL('../workers/', import.meta.url));
/** Whether this runs compiled (`npm run bench`), else from the sources through tsx. */
const compiled = import.meta.url.endsWith('.js');

/**
 * What every case gets: the etcd cluster (started here, or `ETCD_ENDPOINTS`), its metrics URLs,
 * and tracked clients, sessions and worker processes that {@link Bench.close} tears down.
 */
export class Bench {
  private readonly clients: Etcd3[] = [];
  private readonly sessions: Session[] = [];
  private readonly children = new Set<ChildProcess>();

  private constructor(
    /** Few samples, small scales: a smoke run for CI. */
    readonly quick: boolean,
    readonly endpoints: string[],
    /** Base URLs whose `/metrics` each member serves. */
    readonly metricsUrls: string[],
    /** The local cluster when the bench started one. */
    readonly cluster: Cluster | undefined,
  ) {}

  /** Uses `ETCD_ENDPOINTS`, or starts a throwaway 3-member cluster of the local `etcd` binary. */
  static async start(quick: boolean): Promise<Bench> {
    const external = process.env.ETCD_ENDPOINTS?.trim();
    if (external) {
      const endpoints = external.split(',').map(s => s.trim());
      // etcd also serves /metrics on its client URLs.
      return new Bench(quick, endpoints, endpoints, undefined);
    }
    const cluster = await startCluster();
    return new Bench(
      quick,
      cluster.endpoints,
      cluster.members.map(m => m.metricsUrl),
      cluster,
    );
  }

  /** `quick` in quick mode, else `full`. */
  pick<T>(quick: T, full: T): T {
    return this.quick ? quick : full;
  }

  /** A new etcd3 client: its own gRPC connections and its own watch stream. */
  client(): Etcd3 {
    const c = new Etcd3({ hosts: this.endpoints });
    this.clients.push(c);
    return c;
  }

  /** A session closed at the end of the run. */
  async session(client: Etcd3, ttl = 10): Promise<Session> {
    const s = await Session.create(client, { ttl });
    this.sessions.push(s);
    return s;
  }

  /** A lock or election name no other run uses. */
  name(label: string): string {
    return `bench/${label}-${randomBytes(4).toString('hex')}`;
  }

  /** Starts `bench/workers/<file>` in its own Node process: compiled, as this runs (else through tsx). */
  worker(file: string, args: string[], nodeFlags: string[] = []): Worker {
    const entry = compiled ? [`${workersDir}${file.replace(/\.ts$/, '.js')}`] : ['--import', 'tsx', `${workersDir}${file}`];
    const child = spawn(process.execPath, [...nodeFlags, ...entry, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ETCD_ENDPOINTS: this.endpoints.join(','), BENCH_METRICS_URLS: this.metricsUrls.join(',') },
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return new Worker(child);
  }

  /** Closes sessions and clients, kills workers, stops the cluster if it started one. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.children].map(async child => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await Promise.all(this.sessions.map(s => s.close().catch(() => undefined)));
    for (const c of this.clients) c.close();
    await this.cluster?.stop();
  }
}

/** A worker process that talks in JSON lines: commands on stdin, messages on stdout. */
export class Worker {
  private readonly waiting: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  private readonly backlog: Message[] = [];
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<number | string>;

  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', line => {
      let message: Message;
      try {
        message = { ...(JSON.parse(line) as Record<string, unknown>), receivedAt: clock() } as Message;
      } catch {
        process.stderr.write(`worker: ${line}\n`);
        return;
      }
      const i = this.waiting.findIndex(w => w.match(message));
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(message);
      else this.backlog.push(message);
    });
    this.exited = new Promise(resolve => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** The next message of `type` (or one already received), rejecting if the process exits first. */
  next<T extends Message = Message>(type: string): Promise<T> {
    const match = (m: Message): boolean => m.type === type;
    const i = this.backlog.findIndex(match);
    if (i >= 0) return Promise.resolve(this.backlog.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ match, resolve: m => resolve(m as T) });
      void this.exited.then(code => reject(new Error(`worker exited (${code}) before sending "${type}"`)));
    });
  }
}

/** A message from a worker, stamped with the monotonic time it arrived. */
export interface Message {
  type: string;
  receivedAt: number;
  [field: string]: unknown;
}
