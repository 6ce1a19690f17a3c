import { parseArgs } from 'node:util';
import { EtcdConcurrencyError } from '../errors.js';

/** A bad flag, argument or command line; the CLI prints the message and exits with `ExitCode.usage`. */
export class UsageError extends EtcdConcurrencyError {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The subcommand whose usage was wrong, if known: its help is suggested. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** One flag: how `parseArgs` reads it, and how `--help` shows it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder of the value in help, e.g. `SECONDS`. */
  readonly value?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The parsed values of a command line's flags. */
export type Values = Readonly<Record<string, string | boolean | undefined>>;

/** A command line split into its parts. */
export interface CommandLine {
  /** The subcommand, if any (the first positional argument). */
  readonly command: string | undefined;
  /** Positional arguments after the subcommand, before `--`. */
  readonly args: string[];
  /** Everything after the first `--`: the program to run, or undefined without `--`. */
  readonly program: string[] | undefined;
  readonly values: Values;
  /** The flags given, as written (`--ttl`), in order. */
  readonly flags: string[];
}

/**
 * Parses `argv` (without node and the script) against every known flag. Flags may come before or
 * after the subcommand; everything after the first `--` is the program to run, untouched.
 *
 * @throws {UsageError} an unknown flag, a missing value, or a value given to a boolean flag.
 */
export function parseCommandLine(argv: readonly string[], options: OptionSpecs): CommandLine {
  const split = argv.indexOf('--');
  const head = split === -1 ? [...argv] : argv.slice(0, split);
  const program = split === -1 ? undefined : argv.slice(split + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: head,
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [name, spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }]),
      ),
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error, head));
  }
  const flags = parsed.tokens.flatMap(token => (token.kind === 'option' ? [token.rawName] : []));
  const [command, ...args] = parsed.positionals;
  return { command, args, program, values: parsed.values, flags };
}

function describeParseError(error: unknown, head: string[]): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag ?? JSON.stringify(head.join(' '))}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return `option ${flag} takes no value`;
      if (/ambiguous/.test(message)) return `option ${flag} needs a value (write ${flag}=VALUE for one that starts with "-")`;
      return `option ${flag} needs a value`;
    default:
      return message;
  }
}

/**
 * Reads a duration flag: a number in `unit`, or a number with a suffix `ms`, `s` or `m`
 * (`1500`, `1.5s`, `2m`). Returns milliseconds.
 *
 * @throws {UsageError} anything else, quoting the value.
 */
export function parseDuration(flag: string, text: string, unit: 'ms' | 's'): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(`--${flag} must be a duration such as 5000, 500ms, 5s or 2m. Got: ${JSON.stringify(text)}`);
  }
  const factor = { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? unit) as 'ms' | 's' | 'm'];
  return Math.round(Number(match[1]) * factor);
}

/** Reads a TTL flag in whole seconds (`10` or `10s`). */
export function parseSeconds(flag: string, text: string): number {
  const ms = parseDuration(flag, text, 's');
  if (ms < 1000 || ms % 1000 !== 0) {
    throw new UsageError(`--${flag} must be a whole number of seconds ≥ 1. Got: ${JSON.stringify(text)}`);
  }
  return ms / 1000;
}

/** The `--help` lines of a set of flags, aligned. */
export function describeOptions(options: OptionSpecs): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : '    ';
    return [`  ${short}--${name}${spec.value ? ` ${spec.value}` : ''}`, spec.description] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right);
}
