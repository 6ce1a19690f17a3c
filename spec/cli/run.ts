import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { defer, endpoints } from '../support/etcd.js';

/** The CLI's entry point, run from source through tsx. */
export const CLI = fileURLToPath(new URL('../../lib/cli.ts', import.meta.url));

/** A running CLI (from source, through tsx), with its output collected from the start. */
export interface Run {
  readonly child: ChildProcess;
  /** stdout lines so far. */
  readonly lines: string[];
  /** stderr lines so far. */
  readonly errLines: string[];
  /** stderr so far. */
  stderr(): string;
  /**
   * Resolves with the exit code once the CLI exited and its stdout and stderr are closed: all its
   * output is in, and nothing it started still holds them (its command's process group is gone).
   */
  readonly exited: Promise<number | null>;
  /** Resolves with the first stdout line matching `pattern` (already printed or to come). */
  line(pattern: RegExp): Promise<string>;
  /** Resolves with the first stderr line matching `pattern` (already printed or to come). */
  errLine(pattern: RegExp): Promise<string>;
}

/** Collects the lines of `stream` and answers "the first line matching …" as it comes. */
export function lineSource(stream: Readable, exited: Promise<unknown>): { lines: string[]; first(pattern: RegExp): Promise<string> } {
  const lines: string[] = [];
  const waiting = new Set<{ pattern: RegExp; resolve(line: string): void }>();
  let partial = '';
  stream.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of waiting) {
        if (w.pattern.test(line)) {
          waiting.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  const first = (pattern: RegExp): Promise<string> => {
    const seen = lines.find(l => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      waiting.add({ pattern, resolve });
      void exited.then(() => setImmediate(() => reject(new Error(`exited without printing a line matching ${pattern}; so far:\n${lines.join('\n')}`))));
    });
  };
  return { lines, first };
}

/** Starts the CLI with `args`, on the suite's cluster (`ETCD_ENDPOINTS`); stopped with SIGTERM after the test if still running. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(','), ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = once(child, 'exit');
  const exited = once(child, 'close').then(([code]) => code as number | null);
  const out = lineSource(child.stdout, exited);
  const err = lineSource(child.stderr, exited);
  defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // SIGTERM first: the CLI forwards it to its command's process group and revokes its lease.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  });
  return { child, lines: out.lines, errLines: err.lines, stderr: () => stderr, exited, line: out.first, errLine: err.first };
}
