import path from 'node:path';
import { checkParity, type ParityRow, type PathComparison } from '../export/parity.js';
import { loadTokenizer } from '../hf/tokenizer.js';
import { UsageError } from '../util/errors.js';
import { writeJsonTo } from '../util/fsx.js';
import fs from 'node:fs';
import type { Command } from './command.js';
import { intOption, requireString } from './options.js';

const DEFAULT_PROMPT = 'The jury said that the city';

export const checkCommand: Command = {
  name: 'check',
  summary: 'parity of an exported transformers.js folder: KV-cache vs full-sequence path per file (and transformers.js, onnxruntime-web)',
  usage: 'quantlab check --model <exported folder> [--prompt text | --prompt-ids 1,2,3] [--tokens 20] [--dtypes fp32,q8] [--transformers-js] [--web] [--tolerance X] [--json out.json]',
  options: {
    model: { type: 'string', description: 'folder written by quantlab export (config.json + onnx/model*.onnx)', valueName: 'folder' },
    prompt: { type: 'string', description: `prompt text (needs tokenizer.json; default "${DEFAULT_PROMPT}")`, valueName: 'text' },
    'prompt-ids': { type: 'string', description: 'prompt as comma-separated token ids', valueName: 'ids' },
    tokens: { type: 'string', description: 'greedy tokens to generate', default: '20', valueName: 'N' },
    dtypes: { type: 'string', description: 'only these dtypes (default: every onnx/model*.onnx)', valueName: 'list' },
    'transformers-js': { type: 'boolean', description: 'also run each file through @huggingface/transformers (dev dependency)' },
    web: { type: 'boolean', description: 'also run each file under onnxruntime-web, WASM backend (dev dependency)' },
    tolerance: { type: 'string', description: 'max |Δlogits| for every comparison (default: per dtype, see docs/transformers-js.md)', valueName: 'X' },
    json: { type: 'string', description: 'write the rows as JSON here (- for stdout)', valueName: 'file' },
  },
  async run(v) {
    const dir = requireString(v.model, 'model');
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new UsageError(`${dir} has no config.json (expected a folder written by quantlab export)`);
    let prompt: number[];
    if (v['prompt-ids'] !== undefined) {
      if (v.prompt !== undefined) throw new UsageError('give --prompt or --prompt-ids, not both');
      prompt = String(v['prompt-ids']).split(',').map((s) => {
        const n = Number(s.trim());
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`--prompt-ids: '${s}' is not a token id`);
        return n;
      });
    } else {
      if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) throw new UsageError(`${dir} has no tokenizer.json; give --prompt-ids`);
      prompt = loadTokenizer(dir).encode(String(v.prompt ?? DEFAULT_PROMPT));
    }
    let tolerance: number | undefined;
    if (v.tolerance !== undefined) {
      tolerance = Number(v.tolerance);
      if (!(tolerance >= 0)) throw new UsageError(`--tolerance must be a non-negative number, got '${v.tolerance}'`);
    }
    const dtypes = v.dtypes === undefined ? undefined : String(v.dtypes).split(',').map((s) => s.trim()).filter(Boolean);
    const newTokens = intOption(v.tokens, 'tokens', 20)!;
    console.log(`prompt ${prompt.length} tokens, ${newTokens} greedy tokens; max |Δlogits| over every position (tolerance)`);
    console.log(header(Boolean(v.web), Boolean(v['transformers-js'])));
    const rows = await checkParity({ dir, prompt, newTokens, dtypes, web: Boolean(v.web), transformersJs: Boolean(v['transformers-js']), tolerance },
      (r) => console.log(line(r, Boolean(v.web), Boolean(v['transformers-js']))));
    if (v.json) writeJsonTo(String(v.json), { prompt, newTokens, rows });
    const bad = rows.filter((r) => !r.ok);
    console.log(bad.length ? `MISMATCH in ${bad.map((r) => r.dtype).join(', ')}` : `all ${rows.length} files agree`);
    return bad.length ? 1 : 0;
  },
};

const col = (s: string, n: number) => s.padEnd(n);

function header(web: boolean, tjs: boolean): string {
  return [col('dtype', 7), col('kv vs full: Δ (tol) tokens', 30), col('vs fp32: Δ tokens', 20), web ? col('web: Δ (tol) tokens', 30) : '', tjs ? col('transformers.js: Δ (tol) tokens', 32) : '', 'result'].join(' ');
}

function cmp(c: PathComparison | { error: string } | undefined, n: number): string {
  if (!c) return '-';
  if ('error' in c) return `error: ${c.error}`.slice(0, 120);
  return `${c.maxAbs.toExponential(2)} (${c.tolerance}) ${c.tokenAgree}/${n}${c.ties ? ` +${c.ties} tie` : ''}`;
}

function line(r: ParityRow, web: boolean, tjs: boolean): string {
  if (r.error) return `${col(r.dtype, 7)} error: ${r.error}`;
  const n = r.tokens.length;
  const vs = r.vsFp32 ? `${r.vsFp32.maxAbs.toExponential(2)} ${r.vsFp32.tokenAgree}/${n}` : '-';
  return [col(r.dtype, 7), col(cmp(r.kvVsFull, n), 30), col(vs, 20), web ? col(cmp(r.web, n), 30) : '', tjs ? col(cmp(r.transformersJs, n), 32) : '', r.ok ? 'ok' : 'MISMATCH'].join(' ');
}
