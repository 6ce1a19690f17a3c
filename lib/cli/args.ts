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

const UNITS_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Reads a duration flag, as Go's `time.ParseDuration` (what etcdctl's `--dial-timeout` takes) with
 * the units `h`, `m`, `s` and `ms`: `1m30s`, `1h`, `500ms`, `2.5s`. A bare number is seconds, as
 * etcdctl's `--ttl 60`. Every duration flag of the CLI goes through here. Returns milliseconds,
 * rounded to a whole one.
 *
 * @throws {UsageError} anything else (a negative number, no number, an unknown unit), naming the
 * flag and quoting the value.
 */
export function parseDuration(flag: string, text: string): number {
  const trimmed = text.trim();
  const bad = (): UsageError =>
    new UsageError(`--${flag} must be a duration such as 90s, 1m30s, 500ms, 2.5s or 1h (a bare number is seconds). Got: ${JSON.stringify(text)}`);
  if (/^(\d+(\.\d*)?|\.\d+)$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const term = /(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)/y;
  let ms = 0;
  let at = 0;
  while (at < trimmed.length) {
    term.lastIndex = at;
    const match = term.exec(trimmed);
    if (!match) throw bad();
    ms += Number(match[1]) * UNITS_MS[match[2]!]!;
    at = term.lastIndex;
  }
  if (at === 0) throw bad();
  return Math.round(ms);
}

/** Reads a TTL flag: a duration ({@link parseDuration}) of whole seconds, at least 1 (`10`, `10s`, `1m`). Returns seconds. */
export function parseSeconds(flag: string, text: string): number {
  const ms = parseDuration(flag, text);
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
