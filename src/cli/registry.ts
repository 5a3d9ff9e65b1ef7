import { benchCommand } from './bench.js';
import { checkCommand } from './check.js';
import type { Command } from './command.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { inspectCommand } from './inspect.js';
import { qatCommand } from './qat.js';
import { quantizeCommand } from './quantize.js';
import { synthCommand } from './synth.js';
import { trainCommand } from './train.js';

/** Every subcommand, in --help order. */
export const COMMANDS: Command[] = [evalCommand, inspectCommand, synthCommand, quantizeCommand, exportCommand, checkCommand, trainCommand, qatCommand, benchCommand];
