import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { client, defer, endpoints, keysUnder, lineMatching, uniqueName } from './support/etcd.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A program of the repository run as a user would (through tsx), on the shared cluster. */
interface Program {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  stderr(): string;
  /** The first stdout line matching `pattern`, already printed or to come. */
  line(pattern: RegExp): Promise<string>;
}

function run(file: string, env: NodeJS.ProcessEnv = {}): Program {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(','), NO_COLOR: '1', ...env },
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    line: pattern => {
      const seen = lines.find(l => pattern.test(l));
      return seen !== undefined ? Promise.resolve(seen) : lineMatching(child, pattern);
    },
  };
}

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('examples/', () => {
  it('inventory.ts sells the whole stock, each unit once, and exits 0', async () => {
    const prefix = uniqueName('inventory');
    const program = run('examples/inventory.ts', { INVENTORY: prefix, STOCK: '8', BUYERS: '4', WANT: '3' });
    expect(await program.exited, program.stderr()).toBe(0);
    const bought = program.lines.filter(l => /^buyer-\d bought unit \d+ /.test(l));
    expect(bought).toHaveLength(8);
    // Units 1..8 in order: each purchase saw the previous one's write.
    expect(bought.map(l => Number(/unit (\d+)/.exec(l)![1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(program.lines.filter(l => /sold out/.test(l))).toHaveLength(4);
    expect(program.lines).toContain('OK: no unit was sold twice');
    expect(await keysUnder(client(), `${prefix}/`)).toEqual([]);
  });

  it('semaphore-jobs.ts: worker processes never run more jobs at once than the permits, and exit 0', async () => {
    const prefix = uniqueName('jobs');
    const program = run('examples/semaphore-jobs.ts', { PREFIX: prefix, PERMITS: '2', WORKERS: '3', JOBS: '3' });
    expect(await program.exited, program.stderr()).toBe(0);
    const running = program.lines.flatMap(l => /^worker \d job \d running \((\d+) of 2/.exec(l)?.slice(1) ?? []).map(Number);
    expect(running).toHaveLength(9);
    expect(Math.max(...running)).toBeLessThanOrEqual(2);
    expect(program.lines).toContain('OK: never more than 2 jobs at once');
    expect(await keysUnder(client(), `${prefix}/`)).toEqual([]);
  });

  it('fencing.ts: the store refuses the paused holder’s write with the stale token, and exits 0', async () => {
    const lock = uniqueName('fencing');
    const program = run('examples/fencing.ts', { LOCK: lock });
    expect(await program.exited, program.stderr()).toBe(0);
    const tokens = program.lines.flatMap(l => /^worker (A|B) +holds .* fencing token (\d+)/.exec(l)?.slice(1) ?? []);
    const [, a, , b] = tokens;
    expect(BigInt(b!)).toBeGreaterThan(BigInt(a!));
    expect(program.lines).toContain(`worker A  → 409 stale fencing token ${a}: already accepted ${b}`);
    expect(program.lines).toContain('store     report = "B: final"');
    expect(program.lines).toContain('OK: the stale write was fenced off');
    expect(await keysUnder(client(), `${lock}/`)).toEqual([]);
  });

  it('k8s-service.ts: /readyz follows leadership, /healthz is up, SIGTERM resigns and a follower becomes ready', async () => {
    const election = uniqueName('k8s');
    const env = { ELECTION: election, PORT: '0', TTL: '10' };
    const a = run('examples/k8s-service.ts', { ...env, POD_NAME: 'pod-a' });
    const urlA = /listening on (\S+)/.exec(await a.line(/listening on/))![1]!;
    await a.line(/leading \(fencing token/);
    const b = run('examples/k8s-service.ts', { ...env, POD_NAME: 'pod-b' });
    const urlB = /listening on (\S+)/.exec(await b.line(/listening on/))![1]!;
    await b.line(/leader is pod-a/);

    expect(await get(`${urlA}/readyz`)).toEqual({ status: 200, body: { status: 'leader' } });
    expect(await get(`${urlB}/readyz`)).toEqual({ status: 503, body: { status: 'follower', leader: 'pod-a' } });
    expect((await get(`${urlA}/healthz`)).status).toBe(200);
    expect((await get(`${urlB}/healthz`)).status).toBe(200);
    expect((await get(`${urlB}/`)).body).toMatchObject({ me: 'pod-b', leader: 'pod-a', leading: false });

    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.lines).toContain('[pod-a] stopped');
    // pod-a resigned: pod-b takes over without waiting for pod-a's lease TTL.
    await b.line(/\[pod-b\] leading \(fencing token/);
    expect(await get(`${urlB}/readyz`)).toEqual({ status: 200, body: { status: 'leader' } });

    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(await keysUnder(client(), `${election}/`)).toEqual([]);
  });
});

describe('npm run demo', () => {
  it('runs on an existing cluster (ETCD_ENDPOINTS), passes its own checks, exits 0 and deletes its keys', async () => {
    const program = run('demo/main.ts');
    expect(await program.exited, `${program.lines.join('\n')}\n${program.stderr()}`).toBe(0);
    const text = program.lines.join('\n');
    expect(text).toMatch(/✓ no overselling: 20 orders for 20 units/);
    expect(text).toMatch(/write REFUSED by etcd/);
    expect(text).toMatch(/✓ FIFO/);
    expect(text).toMatch(/→ failover in \d+\.\d+ s/);
    expect(text).not.toMatch(/✗/);
    const prefix = /demo\/[0-9a-f]{6}/.exec(text)![0];
    expect(await keysUnder(client(), `${prefix}/`)).toEqual([]);
  }, 120_000);
});
