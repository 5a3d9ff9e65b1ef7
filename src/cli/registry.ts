import type { Command } from './command.js';
import { evalCommand } from './eval.js';

/** Every subcommand, in --help order. */
export const COMMANDS: Command[] = [evalCommand];
