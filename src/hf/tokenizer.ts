import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../util/errors.js';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** What identifies the tokenizer in a result (file SHA-256 prefix). */
  id: string;
  /**
   * The BOS id the tokenizer prepends to a text (Llama, Gemma: its post-processor or
   * tokenizer_config's add_bos_token), which perplexity windows then start with; absent for GPT-2, Qwen.
   */
  bos?: number;
}

function readJson(file: string): Record<string, unknown> {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(file, code === 'ENOENT' ? 'file is missing' : 'not valid JSON');
  }
}

/** Load `tokenizer.json` (+ `tokenizer_config.json`) from a model folder. */
export function loadTokenizer(dir: string): TextTokenizer {
  const file = path.join(dir, 'tokenizer.json');
  const tj = readJson(file);
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const tc = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
  let tok: Tokenizer;
  try { tok = new Tokenizer(tj, tc); } catch (e) { throw new InputError(file, `cannot build tokenizer (${oneLine(e)})`); }
  const raw = fs.readFileSync(file);
  const id = `tokenizer.json sha256:${createHashHex(raw).slice(0, 16)}`;
  let bos: number | undefined;
  try { bos = bosOf(tok, tc); } catch (e) { throw new InputError(file, `cannot encode text (${oneLine(e)})`); }
  return {
    id, bos,
    // A tokenizer.json that builds can still fail on a text: say which file, in one line.
    encode: (text) => { try { return tok.encode(text, { add_special_tokens: false }).ids; } catch (e) { throw new InputError(file, `cannot encode text (${oneLine(e)})`); } },
    decode: (ids) => { if (!ids.length) return ''; try { return tok.decode(ids, { skip_special_tokens: false }); } catch (e) { throw new InputError(file, `cannot decode ids (${oneLine(e)})`); } },
  };
}

/** What `encode(text, add_special_tokens)` puts before the text, as transformers' tokenizer would. */
function bosOf(tok: Tokenizer, tc: Record<string, unknown>): number | undefined {
  if (tc.add_bos_token === false) return undefined;
  const plain = tok.encode('a', { add_special_tokens: false }).ids, full = tok.encode('a', { add_special_tokens: true }).ids;
  if (full.length > plain.length && full[0] !== plain[0]) return full[0];
  if (tc.add_bos_token === true) {
    const name = typeof tc.bos_token === 'string' ? tc.bos_token : (tc.bos_token as { content?: string } | undefined)?.content;
    const bos = name === undefined ? undefined : tok.token_to_id(name);
    if (typeof bos === 'number') return bos;
  }
  return undefined;
}

const oneLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

import { createHash } from 'node:crypto';
function createHashHex(b: Uint8Array): string { return createHash('sha256').update(b).digest('hex'); }
