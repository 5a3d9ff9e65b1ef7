import crypto from 'node:crypto';
import fs from 'node:fs';
import { InputError } from '../util/errors.js';

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
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    throw new InputError(file, `cannot read dataset file (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  if (!text.trim()) throw new InputError(file, 'dataset file is empty');
  return textDataset(file, text, file);
}

/**
 * Resolve a dataset spec: a registered name ('brown', 'wikitext2') with a split, or a file path.
 * (Registered datasets are added in ./registry.ts.)
 */
export function loadDataset(spec: string, split = 'test'): Dataset {
  return fileDataset(spec);
}
