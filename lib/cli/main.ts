/** The CLI's dispatcher: parses the command line, runs a command, maps failures to exit codes. */
import {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  LeaseLostError,
  LockTimeoutError,
  OwnershipLostError,
  PermissionDeniedError,
  PermitsMismatchError,
} from '../errors.js';
import { UsageError, parseCommandLine, type OptionSpecs } from './args.js';
import type { Command, Io } from './command.js';
import { connectionFrom, connectionOptions } from './connection.js';
import { electCommand } from './elect.js';
import { ExitCode } from './exit-codes.js';
import { lockCommand } from './lock.js';
import { PROGRAM, commandHelp, generalHelp, version } from './help.js';
import { InterruptedError } from './signals.js';
import { statusCommand } from './status.js';

/** The subcommands, in the order `--help` lists them. */
export const commands: Command[] = [lockCommand, electCommand, statusCommand];

/** The flags every command takes besides the connection flags. */
export const generalOptions = {
  help: { type: 'boolean', short: 'h', description: 'show help (for a command: etcd-concurrency <command> --help)' },
  version: { type: 'boolean', description: 'print the version and exit 0 (with any command)' },
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
    // As `git --version` or `etcdctl version`: with any command, whatever else the line says.
    if (line.values.version === true) {
      io.out(version());
      return ExitCode.ok;
    }
    if (line.command === undefined) {
      for (const text of generalHelp(commands, generalOptions)) io.out(text);
      if (line.values.help === true) return ExitCode.ok;
      throw new UsageError('missing command');
    }
    if (line.command === 'help') {
      const topic = line.args[0];
      const target = topic === undefined ? undefined : findCommand(topic);
      for (const text of target ? commandHelp(target, generalOptions) : generalHelp(commands, generalOptions)) io.out(text);
      return ExitCode.ok;
    }
    command = findCommand(line.command);
    const allowed = new Set(Object.keys({ ...generalOptions, ...connectionOptions, ...command.options }));
    const longName = (flag: string): string | undefined =>
      flag.startsWith('--') ? flag.slice(2) : Object.entries(allOptions).find(([, spec]) => spec.short === flag.slice(1))?.[0];
    const stray = line.flags.find(flag => !allowed.has(longName(flag) ?? flag));
    if (stray !== undefined) throw new UsageError(`${command.name} does not take ${stray}`, command.name);
    if (line.values.help === true) {
      for (const text of commandHelp(command, generalOptions)) io.out(text);
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
    io.err(`${error.message} while waiting (no command ran); nothing left in etcd`);
    return error.exitCode;
  }
  if (error instanceof LockTimeoutError) {
    io.err(`${error.message}; the command did not run`);
    return ExitCode.timedOut;
  }
  if (error instanceof PermitsMismatchError) {
    io.err(`${error.message}; the command did not run`);
    return ExitCode.permitsMismatch;
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

/** stdout and stderr of this process, and its environment. */
export function processIo(): Io {
  return {
    out: line => process.stdout.write(`${line}\n`),
    err: line => process.stderr.write(`${PROGRAM}: ${line}\n`),
    env: process.env,
  };
}
