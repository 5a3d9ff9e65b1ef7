import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError } from '../util/errors.js';
import { brownSource, brownSplit, type BrownSplit } from './brown.js';

/** A text to evaluate on, with what identifies it in a result. */
export interface Dataset {
  /** e.g. 'brown/test', 'wikitext2/test', or the file path. */
  name: string;
  text: string;
  /** SHA-256 of the UTF-8 text. */
  sha256: string;
  /** Where the text came from (file path or package). */
  source: string;
}

export function textDataset(name: string, text: string, source: string): Dataset {
  return { name, text, source, sha256: crypto.createHash('sha256').update(text, 'utf8').digest('hex') };
}

/** A plain UTF-8 text file. */
export function fileDataset(file: string): Dataset {
  let bytes: Buffer;
  try { bytes = fs.readFileSync(file); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file (and not a known dataset: brown, wikitext2)' : code === 'EISDIR' ? 'is a folder, expected a text file' : `cannot read dataset file (${code ?? e})`;
    throw new InputError(file, why);
  }
  // A text, not bytes read as one: invalid UTF-8 or NUL bytes would be scored as replacement characters.
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new InputError(file, `not a text file (NUL byte at offset ${nul})`);
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { throw new InputError(file, `not valid UTF-8 (at byte ${firstInvalidUtf8(bytes)})`); }
  if (!text.trim()) throw new InputError(file, 'dataset file is empty');
  return textDataset(file, text, file);
}

/** Offset of the first byte where `b` stops being valid UTF-8 (binary search on the fatal decoder). */
function firstInvalidUtf8(b: Uint8Array): number {
  const valid = (n: number) => { try { new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, n), { stream: true }); return true; } catch { return false; } };
  let lo = 0, hi = b.length;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (valid(mid)) lo = mid; else hi = mid - 1; }
  return lo;
}

/** Bundled data lives in <package root>/data; this file is at <root>/{dist,src}/data/index.*. */
export const DATA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');
export const WIKITEXT2_TEST = path.join(DATA_DIR, 'wikitext-2-raw', 'wiki.test.raw');

const SPLIT_ALIASES: Record<string, BrownSplit> = {
  train: 'train', training: 'train',
  val: 'val', valid: 'val', validation: 'val', dev: 'val',
  test: 'test',
};

export function normalizeSplit(split: string): BrownSplit {
  const s = SPLIT_ALIASES[split.toLowerCase()];
  if (!s) throw new UsageError(`unknown split '${split}' (use train, val or test)`);
  return s;
}

/**
 * Resolve a dataset spec: a registered name ('brown', 'wikitext2') with a split, or a file path.
 * A file path ignores the split.
 */
export function loadDataset(spec: string, split = 'test'): Dataset {
  const key = spec.toLowerCase();
  if (key === 'brown' && !fs.existsSync(spec)) {
    const s = normalizeSplit(split);
    return textDataset(`brown/${s}`, brownSplit(s), brownSource());
  }
  if ((key === 'wikitext2' || key === 'wikitext-2' || key === 'wikitext') && !fs.existsSync(spec)) {
    const s = normalizeSplit(split);
    if (s !== 'test') throw new UsageError(`wikitext2: only the test split is bundled; for '${split}' pass the path of wiki.${s === 'val' ? 'valid' : s}.raw as --dataset`);
    const ds = fileDataset(WIKITEXT2_TEST);
    return { ...ds, name: 'wikitext2/test', source: 'wikitext-2-raw-v1 wiki.test.raw (data/wikitext-2-raw)' };
  }
  return fileDataset(spec);
}
