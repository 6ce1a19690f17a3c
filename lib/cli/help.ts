import { readFileSync } from 'node:fs';
import { describeOptions, type OptionSpecs } from './args.js';
import type { Command } from './command.js';
import { connectionOptions } from './connection.js';
import type { ExitCodeDoc } from './exit-codes.js';

/** The program's name, as installed (`bin`). */
export const PROGRAM = 'etcd-concurrency';

/** `etcd-concurrency --help`: the commands, the flags every command takes. */
export function generalHelp(commands: readonly Command[], generalOptions: OptionSpecs): string[] {
  const width = Math.max(...commands.map(c => c.name.length)) + 2;
  return [
    `${PROGRAM}: fair distributed locks and leader election on etcd, for shell commands.`,
    '',
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...commands.map(c => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}show a command's help, with its exit codes: ${PROGRAM} help <command>`,
    '',
    'Options for every command:',
    ...describeOptions({ ...connectionOptions, ...generalOptions }),
    '',
    'Durations: 500ms, 2.5s, 1m30s, 1h; a bare number is seconds.',
  ];
}

/** `etcd-concurrency <command> --help`: synopsis, details, flags, and every exit code it can return. */
export function commandHelp(command: Command, generalOptions: OptionSpecs): string[] {
  return [
    `Usage: ${PROGRAM} ${command.usage}`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    '',
    ...command.details,
    '',
    'Options:',
    ...describeOptions({ ...command.options, ...connectionOptions, ...generalOptions }),
    '',
    'Durations: 500ms, 2.5s, 1m30s, 1h; a bare number is seconds.',
    '',
    ...exitCodeHelp(command.exitCodes),
  ];
}

/** The "Exit codes" block of a command's help, aligned. */
export function exitCodeHelp(codes: readonly ExitCodeDoc[]): string[] {
  const width = Math.max(...codes.map(c => c.code.length)) + 2;
  return ['Exit codes:', ...codes.map(c => `  ${c.code.padEnd(width)}${c.meaning}`)];
}

/** This package's version, from its package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
