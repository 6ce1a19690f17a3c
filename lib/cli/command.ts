import type { CommandLine, OptionSpecs } from './args.js';
import type { ExitCodeDoc } from './exit-codes.js';

/** Where a command writes, and the environment it reads. */
export interface Io {
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr, prefixed with the program's name. */
  err(line: string): void;
  readonly env: NodeJS.ProcessEnv;
}

/** A subcommand of the CLI. */
export interface Command {
  readonly name: string;
  /** Synopsis after the program name, e.g. `lock <name> [options] -- <command...>`. */
  readonly usage: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Paragraphs of `--help` after the synopsis. */
  readonly details: readonly string[];
  /** Every exit code it can return, with its meaning, in the order `--help` lists them. */
  readonly exitCodes: readonly ExitCodeDoc[];
  /** Its own flags (the connection flags come on top). */
  readonly options: OptionSpecs;
  /** Runs it; resolves with the exit code. */
  run(line: CommandLine, io: Io): Promise<number>;
}
