import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; valueName?: string };

/** A CLI subcommand: its options drive parsing and --help; `run` returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments allowed (default 0). */
  positionals?: number;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}
