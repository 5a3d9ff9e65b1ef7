import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../util/errors.js';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** What identifies the tokenizer in a result (file SHA-256 prefix). */
  id: string;
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
  try { tok = new Tokenizer(tj, tc); } catch (e) { throw new InputError(file, `cannot build tokenizer (${(e as Error).message})`); }
  const raw = fs.readFileSync(file);
  const id = `tokenizer.json sha256:${createHashHex(raw).slice(0, 16)}`;
  return {
    id,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
  };
}

import { createHash } from 'node:crypto';
function createHashHex(b: Uint8Array): string { return createHash('sha256').update(b).digest('hex'); }
