/** The CLI's dispatcher: parses the command line, runs a command, maps failures to exit codes. */
import { readFileSync } from 'node:fs';
import {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  LeaseLostError,
  LockTimeoutError,
  OwnershipLostError,
  PermissionDeniedError,
} from '../errors.js';
import { UsageError, describeOptions, parseCommandLine, type OptionSpecs } from './args.js';
import type { Command, Io } from './command.js';
import { connectionFrom, connectionOptions } from './connection.js';
import { electCommand } from './elect.js';
import { ExitCode } from './exit-codes.js';
import { lockCommand } from './lock.js';
import { InterruptedError } from './signals.js';
import { statusCommand } from './status.js';

const PROGRAM = 'etcd-concurrency';

/** The subcommands, in the order `--help` lists them. */
export const commands: Command[] = [lockCommand, electCommand, statusCommand];

const generalOptions = {
  help: { type: 'boolean', short: 'h', description: 'show help (for a command: etcd-concurrency <command> --help)' },
  version: { type: 'boolean', description: 'print the version' },
} as const satisfies OptionSpecs;

/**
 * Runs the CLI on `argv` (the arguments after the program name) and resolves with the exit code.
 * Never rejects: every failure is reported on stderr as one line and mapped to an exit code.
 */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let command: Command | undefined;
  try {
    const allOptions: OptionSpecs = Object.assign({}, generalOptions, connectionOptions, ...commands.map(c => c.options));
    const line = parseCommandLine(argv, allOptions);
    if (line.values.version === true && line.command === undefined) {
      io.out(version());
      return ExitCode.ok;
    }
    if (line.command === undefined) {
      for (const text of generalHelp()) io.out(text);
      if (line.values.help === true) return ExitCode.ok;
      throw new UsageError('missing command');
    }
    if (line.command === 'help') {
      const topic = line.args[0];
      const target = topic === undefined ? undefined : findCommand(topic);
      for (const text of target ? commandHelp(target) : generalHelp()) io.out(text);
      return ExitCode.ok;
    }
    command = findCommand(line.command);
    const allowed = new Set(Object.keys({ ...generalOptions, ...connectionOptions, ...command.options }));
    const stray = line.flags.find(flag => !allowed.has(flag.replace(/^-+/, '').replace(/^h$/, 'help')));
    if (stray !== undefined) throw new UsageError(`${command.name} does not take ${stray}`, command.name);
    if (line.values.help === true) {
      for (const text of commandHelp(command)) io.out(text);
      return ExitCode.ok;
    }
    return await command.run(line, io);
  } catch (error) {
    return report(error, argv, io, command);
  }
}

function findCommand(name: string): Command {
  const command = commands.find(c => c.name === name);
  if (!command) {
    throw new UsageError(`unknown command ${JSON.stringify(name)} (commands: ${commands.map(c => c.name).join(', ')})`);
  }
  return command;
}

/** One line on stderr for each failure, no stack trace (set ETCD_CONCURRENCY_DEBUG=1 for one). */
function report(error: unknown, argv: readonly string[], io: Io, command: Command | undefined): number {
  if (io.env.ETCD_CONCURRENCY_DEBUG) io.err(error instanceof Error ? (error.stack ?? error.message) : String(error));
  if (error instanceof UsageError || error instanceof InvalidArgumentError) {
    const named = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).find(a => commands.some(c => c.name === a));
    const topic = (error instanceof UsageError ? error.command : undefined) ?? command?.name ?? named;
    io.err(`${error.message}\nRun "${PROGRAM}${topic ? ` ${topic}` : ''} --help" for usage.`);
    return ExitCode.usage;
  }
  if (error instanceof InterruptedError) {
    io.err(`${error.message} before the command started; nothing left in etcd`);
    return error.exitCode;
  }
  if (error instanceof LockTimeoutError) {
    io.err(`${error.message}; the command did not run`);
    return ExitCode.timedOut;
  }
  if (error instanceof OwnershipLostError || error instanceof LeaseLostError) {
    io.err(`lost while waiting: ${error.message}`);
    return ExitCode.lost;
  }
  if (error instanceof EtcdUnavailableError) {
    io.err(`${error.message} (endpoints: ${endpointsFor(argv, io)}; set them with --endpoints or ETCD_ENDPOINTS)`);
    return ExitCode.unavailable;
  }
  if (error instanceof PermissionDeniedError) {
    io.err(error.message);
    return ExitCode.permissionDenied;
  }
  const name = error instanceof EtcdConcurrencyError ? '' : `${error instanceof Error ? error.name : 'Error'}: `;
  io.err(`${name}${error instanceof Error ? error.message : String(error)}`);
  return ExitCode.failure;
}

function endpointsFor(argv: readonly string[], io: Io): string {
  try {
    const line = parseCommandLine(argv, Object.assign({}, generalOptions, connectionOptions, ...commands.map(c => c.options)));
    return connectionFrom(line.values, io.env).endpoints.join(',');
  } catch {
    return '?';
  }
}

function generalHelp(): string[] {
  const width = Math.max(...commands.map(c => c.name.length)) + 2;
  return [
    `${PROGRAM}: fair distributed locks and leader election on etcd, for shell commands.`,
    '',
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...commands.map(c => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}show a command's help: ${PROGRAM} help <command>`,
    '',
    'Options for every command:',
    ...describeOptions({ ...connectionOptions, ...generalOptions }),
    '',
    ...exitCodeHelp(),
  ];
}

function commandHelp(command: Command): string[] {
  return [
    `Usage: ${PROGRAM} ${command.usage}`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    '',
    ...command.details,
    '',
    'Options:',
    ...describeOptions({ ...command.options, ...connectionOptions, help: generalOptions.help }),
    ...(command.name === 'status' ? [] : ['', ...exitCodeHelp()]),
  ];
}

function exitCodeHelp(): string[] {
  return [
    'Exit codes: the command\'s own code (128+N if signal N killed it), or',
    `  ${ExitCode.usage}    bad flag or argument`,
    `  ${ExitCode.unavailable}   etcd unreachable within --dial-timeout`,
    `  ${ExitCode.lost}   lock or leadership lost while the command ran (it got SIGTERM, then SIGKILL)`,
    `  ${ExitCode.permissionDenied}   permission denied by etcd`,
    `  ${ExitCode.timedOut}  --timeout elapsed while waiting; the command did not run`,
    `  ${ExitCode.cannotExecute}/${ExitCode.notFound} the command could not be run / was not found`,
    `  128+N interrupted by signal N while waiting; the command did not run`,
  ];
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** stdout and stderr of this process, and its environment. */
export function processIo(): Io {
  return {
    out: line => process.stdout.write(`${line}\n`),
    err: line => process.stderr.write(`${PROGRAM}: ${line}\n`),
    env: process.env,
  };
}
