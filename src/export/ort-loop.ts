import type { Model } from '../ir/graph.js';
import { argmax } from '../runtime/generate.js';
import { halfArrayToF32 } from '../util/half.js';

/*
 * Batch-1 decoding over any onnxruntime flavour (onnxruntime-node, onnxruntime-web) through the
 * API they share, so the web backend runs exactly the feeds the node reference gets.
 */

export interface TensorLike { readonly dims: readonly number[]; readonly data: unknown; readonly type: string }
export interface OrtLike { Tensor: new (type: never, data: never, dims: readonly number[]) => TensorLike }
export interface SessionLike { run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> }

/** The cache inputs a KV-cache graph declares: names, element type and the fixed dims. */
export interface KvLayout { past: string[]; dtype: 'float32' | 'float16'; heads: number; headDim: number; positions: boolean; mask: boolean }

export function kvLayout(model: Model): KvLayout {
  const past = model.graph.inputs.filter((v) => v.name.startsWith('past_key_values.'));
  if (!past.length) throw new Error('graph has no past_key_values.* inputs (not a KV-cache graph)');
  const s = past[0].type?.shape ?? [];
  const dtype = past[0].type?.dtype;
  if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`past_key_values are ${dtype}; expected float32 or float16`);
  if (typeof s[1] !== 'number' || typeof s[3] !== 'number') throw new Error(`${past[0].name}: needs numeric heads and head_dim dims, has [${s}]`);
  const names = new Set(model.graph.inputs.map((v) => v.name));
  return { past: past.map((v) => v.name), dtype, heads: s[1], headDim: s[3], positions: names.has('position_ids'), mask: names.has('attention_mask') };
}

const i64 = (ort: OrtLike, xs: number[]) => new ort.Tensor('int64' as never, BigInt64Array.from(xs, BigInt) as never, [1, xs.length]);

/** One pass: `ids` after `pastLen` cached tokens (cache = previous present.* outputs, or none). */
export async function step(ort: OrtLike, s: SessionLike, kv: KvLayout, ids: number[], cache?: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
  const pastLen = cache ? cache[kv.past[0]].dims[2] : 0;
  const feeds: Record<string, TensorLike> = { input_ids: i64(ort, ids) };
  if (kv.mask) feeds.attention_mask = i64(ort, new Array<number>(pastLen + ids.length).fill(1));
  if (kv.positions) feeds.position_ids = i64(ort, ids.map((_, t) => pastLen + t));
  for (const p of kv.past) {
    feeds[p] = cache?.[p] ?? new ort.Tensor(kv.dtype as never, (kv.dtype === 'float16' ? new Uint16Array(0) : new Float32Array(0)) as never, [1, kv.heads, 0, kv.headDim]);
  }
  return s.run(feeds);
}

export function nextCache(kv: KvLayout, out: Record<string, TensorLike>): Record<string, TensorLike> {
  return Object.fromEntries(kv.past.map((p) => [p, out[p.replace('past_key_values.', 'present.')]]));
}

/** Logits [seq][vocab] as float32 (float16 logits are widened). */
export function logitRows(t: TensorLike): Float32Array[] {
  const [, S, V] = t.dims;
  const data = t.type === 'float16' ? halfArrayToF32(t.data as Uint16Array, false) : (t.data as Float32Array);
  return Array.from({ length: S }, (_, i) => data.slice(i * V, (i + 1) * V));
}

/** Every position's logits from one pass over `ids` with an empty cache (the full-sequence path). */
export async function fullPass(ort: OrtLike, s: SessionLike, kv: KvLayout, ids: number[]): Promise<Float32Array[]> {
  return logitRows((await step(ort, s, kv, ids)).logits);
}

/** Greedy decoding through the cache: prefill, then one token per step. Logits as greedyGenerate returns them. */
export async function cachedGreedy(ort: OrtLike, s: SessionLike, kv: KvLayout, prompt: number[], n: number): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  let out = await step(ort, s, kv, prompt);
  for (;;) {
    const rows = logitRows(out.logits);
    logits.push(...rows);
    const last = rows[rows.length - 1];
    tokens.push(argmax(last, 0, last.length));
    if (tokens.length === n) return { tokens, logits };
    out = await step(ort, s, kv, [tokens[tokens.length - 1]], nextCache(kv, out));
  }
}

/**
 * The cached path fed a given continuation (teacher forcing): prefill `prompt`, then one step per token
 * of `tokens` but the last. Rows line up with another runtime's rows even where a near-tie would
 * have sent free-running greedy decoding down another path.
 */
export async function cachedForced(ort: OrtLike, s: SessionLike, kv: KvLayout, prompt: number[], tokens: number[]): Promise<Float32Array[]> {
  let out = await step(ort, s, kv, prompt);
  const logits = logitRows(out.logits);
  for (const t of tokens.slice(0, -1)) {
    out = await step(ort, s, kv, [t], nextCache(kv, out));
    logits.push(...logitRows(out.logits));
  }
  return logits;
}

/** Largest |a - b| over matching rows. */
export function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) throw new Error(`logit rows differ in count: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) throw new Error(`logit row ${i} differs in length: ${a[i].length} vs ${b[i].length}`);
    for (let j = 0; j < a[i].length; j++) { const d = Math.abs(a[i][j] - b[i][j]); if (Number.isNaN(d)) return NaN; if (d > m) m = d; }
  }
  return m;
}
