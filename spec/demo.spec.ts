// `npm run demo` stopped at a random early point, by each way a demo can end: no etcd member, no
// worker, no reaper and no data directory may outlive it. The demo runs as `npm run demo` runs it
// (tsx, which starts the demo's own Node process), in a process group of its own, as a terminal's
// foreground job is: Ctrl-C and a closed terminal signal the whole group.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { given } from './support/capabilities.js';
import { defer } from './support/etcd.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsxCli = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Pids of the processes whose environment holds `marker` (every process the demo started inherits it). */
async function processesWith(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter(p => /^\d+$/.test(p))) {
    try {
      if ((await readFile(`/proc/${pid}/environ`, 'utf8')).includes(marker)) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        if (!/^\S+ \(.*\) Z/.test(stat)) found.push(`${pid} ${(await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ').slice(0, 120)}`);
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Resolves once no process carries `marker`, or with those that still do after `timeoutMs`. The
 * reaper and reparented members are not our children: there is no exit event to await, so this
 * looks every 50 ms until the deadline.
 */
async function survivors(marker: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

/** The demo's own Node process: tsx's child. */
async function demoProcess(tsx: ChildProcess): Promise<number> {
  const children = (await readFile(`/proc/${tsx.pid}/task/${tsx.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
  expect(children, 'tsx runs the demo in one child process').toHaveLength(1);
  return Number(children[0]);
}

type Stop = (tsx: ChildProcess) => Promise<void>;
const ways: [string, Stop][] = [
  ['Ctrl-C (SIGINT to the process group)', async tsx => void process.kill(-tsx.pid!, 'SIGINT')],
  ['SIGTERM to tsx', async tsx => void tsx.kill('SIGTERM')],
  ['SIGHUP to the process group (terminal closed)', async tsx => void process.kill(-tsx.pid!, 'SIGHUP')],
  ['SIGKILL to tsx (the parent killed)', async tsx => void tsx.kill('SIGKILL')],
  ['SIGKILL to the demo process', async tsx => void process.kill(await demoProcess(tsx), 'SIGKILL')],
];

given('ownClusters').describe('npm run demo stopped early leaves no process and no directory behind', () => {
  for (const [way, stop] of ways) {
    it(way, async () => {
      const marker = `ETCD_CONCURRENCY_DEMO_RUN=${randomBytes(6).toString('hex')}`;
      const tmp = await mkdtemp(join(tmpdir(), 'demo-spec-'));
      defer(() => rm(tmp, { recursive: true, force: true }));
      const env = { ...process.env, NO_COLOR: '1', TMPDIR: tmp, [marker.split('=')[0]!]: marker.split('=')[1]! };
      delete env.ETCD_ENDPOINTS; // the demo starts its own cluster
      const tsx = spawn(process.execPath, [tsxCli, 'demo/main.ts'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      defer(async () => {
        if (tsx.exitCode === null && tsx.signalCode === null) process.kill(-tsx.pid!, 'SIGKILL');
      });
      const exited = once(tsx, 'exit');
      // A random early point: when the k-th line is printed (1: before etcd starts; 2: etcd is up;
      // 3 and on: shops at work).
      const k = randomInt(1, 6);
      const t0 = performance.now();
      const lines = createInterface({ input: tsx.stdout! });
      let seen = 0;
      await new Promise<void>((resolve, reject) => {
        lines.on('line', () => ++seen === k && resolve());
        tsx.once('exit', code => reject(new Error(`the demo exited (${code}) before its line ${k}`)));
      });
      const t1 = performance.now();
      await stop(tsx);
      await exited;
      const t2 = performance.now();
      expect(await survivors(marker, 15_000), `processes left after "${way}" at line ${k}`).toEqual([]);
      const ms = (a: number, b: number): string => (b - a).toFixed(0);
      console.log(`${way} at line ${k} (${ms(t0, t1)} ms): exit after ${ms(t1, t2)} ms, nothing left after ${ms(t1, performance.now())} ms`);
      expect((await readdir(tmp)).filter(f => f.startsWith('etcd-concurrency-')), 'data directories left').toEqual([]);
    }, 60_000);
  }
});
