import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Nothing this process starts may outlive it, however it ends: a signal it handles, one it cannot
 * (SIGKILL, or tsx killing it 30 ms after relaying Ctrl-C), or a crash. The reaper is a small
 * process of its own (its own session, so the terminal's SIGINT and SIGHUP do not reach it, and it
 * ignores SIGTERM), told on a pipe which processes and directories to clean up. When this process
 * ends, for whatever reason, the operating system closes the pipe; the reaper then SIGKILLs the
 * processes still alive (stopped ones too), waits until they are gone, removes the directories and
 * exits. No polling: end of file on the pipe is the event.
 */

// Plain JavaScript, run with `node -e`: starts in tens of milliseconds, needs no loader.
const REAPER = String.raw`
const { rmSync, readFileSync } = require('node:fs');
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => undefined);
const pids = new Map(); // pid -> marker its command line contains (guards against pid reuse)
const dirs = new Set();
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => {
  buffer += chunk;
  const lines = buffer.split('\n');
  buffer = lines.pop();
  for (const line of lines) {
    const [op, kind, value, marker] = line.split('\t');
    if (kind === 'pid') op === '+' ? pids.set(Number(value), marker ?? '') : pids.delete(Number(value));
    if (kind === 'dir') op === '+' ? dirs.add(value) : dirs.delete(value);
  }
});
const alive = pid => { try { process.kill(pid, 0); return !/^\S+ \(.*\) Z/.test(readFileSync('/proc/' + pid + '/stat', 'utf8')); } catch { return false; } };
const ours = (pid, marker) => { try { return readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes(marker); } catch { return true; } };
process.stdin.on('end', () => {
  const victims = [...pids].filter(([pid, marker]) => alive(pid) && ours(pid, marker)).map(([pid]) => pid);
  for (const pid of victims) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  const deadline = Date.now() + 10000;
  const finish = () => {
    if (victims.some(alive) && Date.now() < deadline) return setTimeout(finish, 20);
    for (const dir of dirs) { try { rmSync(dir, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  };
  finish();
});
`;

let reaper: ChildProcess | undefined;

function send(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, ['-e', REAPER], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref(); // the pipe must not keep this process alive
    reaper.stdin!.on('error', () => undefined); // the reaper died: nothing to tell it any more
  }
  reaper.stdin!.write(`${line}\n`);
}

/**
 * Kills `child` (SIGKILL) if it is still running when this process ends. `marker`, a string its
 * command line contains, keeps a reused pid safe. Untracks it by itself when it exits.
 */
export function reapOnExit(child: ChildProcess, marker = ''): void {
  const pid = child.pid;
  if (pid === undefined) return;
  send(`+\tpid\t${pid}\t${marker}`);
  child.once('exit', () => send(`-\tpid\t${pid}`));
}

/** Removes `dir` (recursively) when this process ends, after the processes are gone; {@link keepOnExit} undoes it. */
export function removeOnExit(dir: string): void {
  send(`+\tdir\t${dir}`);
}

/** Forgets a directory given to {@link removeOnExit} (it was removed already). */
export function keepOnExit(dir: string): void {
  send(`-\tdir\t${dir}`);
}
