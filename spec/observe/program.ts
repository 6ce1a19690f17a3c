import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { defer, endpoints } from '../support/etcd.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A program of the repository run as a user would (through tsx), on the shared cluster. */
export interface Program {
  readonly child: ChildProcess;
  readonly lines: readonly string[];
  readonly exited: Promise<number | null>;
  stderr(): string;
  /**
   * The first stdout line matching `pattern` at or after line `from` (already printed or to come),
   * with its index: pass `index + 1` to wait for the next one.
   */
  next(pattern: RegExp, from?: number): Promise<{ line: string; index: number }>;
}

/** Starts `file` (relative to the repository) with `env`; killed after the test if still running. */
export function run(file: string, env: NodeJS.ProcessEnv = {}): Program {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(','), NO_COLOR: '1', ...env },
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of [...waiters]) wake();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const find = (pattern: RegExp, from: number): { line: string; index: number } | undefined => {
    for (let index = from; index < lines.length; index++) if (pattern.test(lines[index]!)) return { line: lines[index]!, index };
    return undefined;
  };
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    next(pattern, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = find(pattern, from);
          if (!hit) return;
          waiters.delete(check);
          resolve(hit);
        };
        waiters.add(check);
        check();
        void exited.then(code => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          reject(new Error(`${file} exited (${code}) before printing ${pattern}:\n${lines.join('\n')}\n${stderr}`));
        });
      });
    },
  };
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Fetches `url` and parses its Prometheus text format (samples only; comments skipped). */
export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  const samples: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
