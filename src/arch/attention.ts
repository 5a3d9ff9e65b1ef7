import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

/** Graph metadata key saying attention reads past and new keys separately (see `attend`). */
export const ATTENTION_FORM_KEY = 'quantlab.attention';
export const SPLIT_PAST = 'split-past/1';

export interface Heads { H: number; KVH: number; D: number }

/**
 * Scaled dot-product attention of q [B,H,T,D] over the past keys/values [B,KVH,P,D] (when given)
 * followed by the new ones [B,KVH,T,D]; `mask` [B,1,T,P+T] is added to the scores. Returns [B,H,T,D].
 *
 * Past and new are never concatenated here: the scores of each are computed apart and concatenated
 * (a [.., T, P+T] row, small), and the context is the sum of both halves' products. So `present`
 * (past ++ new) is only a graph output, and a runtime may instead keep the cache in a buffer it owns,
 * feed the whole buffer as `past` with its unused slots masked out, and append the new rows itself
 * (runtime/kv-cache.ts) — no copy of the cache per token. `pastSplit` is [P, T] (1-D int64).
 *
 * Grouped-query heads: the `H/KVH` query heads that share a KV head are stacked on the row axis
 * ([B,KVH,rep·T,D]; head h = kv·rep + r, transformers' repeat_kv order), so each K/V head is read
 * once instead of being repeated (an Expand copying the cache `rep` times per token).
 */
export function attend(b: Builder, q: Value, k: Value, v: Value, past: { key: Value; value: Value } | null, pastSplit: Value | null, mask: Value, heads: Heads, scale: number): Value {
  const { H, KVH, D } = heads;
  const grouped = H !== KVH;
  const stack = (t: Value, n: number, last: number, name: string) => b.op('Reshape', [t, b.constI64([0, n, -1, last])], {}, { name });
  // The scale goes on q as a [D] vector, not a scalar: onnxruntime folds a scalar next to a MatMul
  // into its alpha, and with alpha ≠ 1 MLAS leaves its one-row (decode) kernel for the packing one
  // (2× slower per token); scaling the scores instead costs a pass over [T, P+T] per head in prefill.
  const scaled = b.op('Mul', [q, b.constF32(new Array<number>(D).fill(scale))], {}, { name: 'q_scale' });
  const qs = grouped ? stack(scaled, KVH, D, 'q_stack') : scaled;
  const scores = (key: Value, name: string) => b.op('MatMul', [qs, b.op('Transpose', [key], { perm: [0, 1, 3, 2] }, { name: `${name}_t` })], {}, { name });
  let s = past ? b.op('Concat', [scores(past.key, 'scores_past'), scores(k, 'scores_new')], { axis: -1 }, { name: 'scores' }) : scores(k, 'scores');
  if (grouped) s = stack(s, H, 0, 'scores_heads');
  let p = b.op('Softmax', [b.op('Add', [s, mask], {}, { name: 'mask' })], { axis: -1 });
  if (grouped) p = stack(p, KVH, 0, 'probs_stack');
  let o: Value;
  if (past) {
    const [pp, pn] = b.opN('Split', [p, pastSplit!], 2, { axis: -1 }, { name: 'probs_split' });
    o = b.op('Add', [b.op('MatMul', [pp, past.value], {}, { name: 'context_past' }), b.op('MatMul', [pn, v], {}, { name: 'context_new' })], {}, { name: 'context' });
  } else {
    o = b.op('MatMul', [p, v], {}, { name: 'context' });
  }
  return grouped ? stack(o, H, D, 'context_heads') : o;
}
