import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';

/** Repository root (this file compiles to dist/testing/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder of a tiny model made by scripts/fixtures/make_tiny_models.py. */
export const fixtureDir = (name: string): string => path.join(repoRoot, 'test', 'fixtures', name);

export interface Reference {
  inputIds: number[][];
  logitsShape: [number, number, number];
  logits: Float32Array;
}

/** The fixture's PyTorch reference: input ids and FP32 logits. */
export function readReference(name: string): Reference {
  const r = JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'reference.json'), 'utf8')) as {
    input_ids: number[][]; logits_shape: [number, number, number]; logits: number[];
  };
  return { inputIds: r.input_ids, logitsShape: r.logits_shape, logits: Float32Array.from(r.logits) };
}

/** Row-major int64 ids of a [batch, seq] array. */
export const idsTensor = (rows: number[][]): BigInt64Array => BigInt64Array.from(rows.flat(), (x) => BigInt(x));

/** Relative L2 error ‖a − b‖ / ‖b‖ (b is the reference). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

/** Logits of one forward pass of `model` over row-major `ids` ([batch, seq]), single-threaded. */
export async function runLogits(model: Model, ids: BigInt64Array, batch: number): Promise<Float32Array> {
  const r = await DecoderRunner.create(model, { threads: 1 });
  try { return (await r.run(ids, batch)).logits.data as Float32Array; } finally { await r.release(); }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}

/** The shared 12M GPT-2: models/gpt2-brown-12m in the repo if present, else ../shared/models/. */
export function sharedGpt2Dir(): string {
  const local = path.join(repoRoot, 'models', 'gpt2-brown-12m');
  return fs.existsSync(local) ? local : path.join(repoRoot, '..', 'shared', 'models', 'gpt2-brown-12m');
}
