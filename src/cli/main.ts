import { parseArgs } from 'node:util';
import { InputError, UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { COMMANDS } from './registry.js';
import '../engine.js'; // registers the passes' engine (passes/engine.ts)

function help(cmd?: Command): string {
  if (!cmd) {
    const rows = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n');
    return `quantlab — quantize causal language models and measure what it costs\n\nUsage: quantlab <command> [options]\n\nCommands:\n${rows}\n\nRun 'quantlab <command> --help' for a command's options.`;
  }
  const opts = Object.entries(cmd.options)
    .map(([k, o]) => `  --${k}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`.padEnd(30) + ` ${o.description}${o.default !== undefined ? ` (default ${o.default})` : ''}`)
    .join('\n');
  return `Usage: ${cmd.usage}\n\n${cmd.summary}\n\nOptions:\n${opts}\n  -h, --help                   show this help`;
}

/** Parse argv, run the command, map errors to one line and an exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  if (name === '--version') { console.log('quantlab 0.1.0'); return 0; }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`quantlab: unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (values.help) { console.log(help(cmd)); return 0; }
    if (positionals.length > (cmd.positionals ?? 0)) throw new UsageError(`unexpected argument '${positionals[cmd.positionals ?? 0]}'`);
    // `--json -`: stdout carries the JSON alone; the human-readable lines go to stderr.
    const log = console.log;
    if ((values as Record<string, unknown>).json === '-') console.log = (...a: unknown[]) => console.error(...a);
    try {
      return await cmd.run(values as Record<string, string | boolean | string[] | undefined>, positionals);
    } finally {
      console.log = log;
    }
  } catch (e) {
    return report(e, name);
  }
}

function report(e: unknown, name: string): number {
  if (process.env.QUANTLAB_DEBUG) console.error(e);
  if (e instanceof InputError) { console.error(`quantlab ${name}: ${e.message}`); return 1; }
  if (e instanceof UsageError) { console.error(`quantlab ${name}: ${e.message} (see 'quantlab ${name} --help')`); return 2; }
  const err = e as NodeJS.ErrnoException;
  if (err?.code?.startsWith?.('ERR_PARSE_ARGS')) { console.error(`quantlab ${name}: ${err.message}`); return 2; }
  const msg = (err?.message ?? String(e)).split('\n')[0];
  console.error(`quantlab ${name}: ${msg}`);
  return 1;
}
