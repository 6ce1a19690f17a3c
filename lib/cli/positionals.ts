import { UsageError, type CommandLine } from './args.js';

/**
 * The positional arguments a command takes, by name: exactly these, no more. Extra words usually
 * mean a command to run was given without `--`.
 * @throws {UsageError} a missing or an unexpected argument.
 */
export function positionals(line: CommandLine, command: string, names: readonly string[]): string[] {
  if (line.args.length < names.length) {
    throw new UsageError(`${command} needs ${names.map(n => `<${n}>`).join(' ')}; missing <${names[line.args.length]}>`, command);
  }
  const extra = line.args[names.length];
  if (extra !== undefined) {
    const hint = line.program === undefined ? ': put the command to run after "--"' : '';
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)} for ${command}${hint}`, command);
  }
  return line.args;
}
