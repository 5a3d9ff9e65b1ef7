import { Builder, float } from '../ir/builder.js';
import { Graph, Model, type Value } from '../ir/graph.js';
import type { DecoderConfig, DecoderWeights, LayerType, Linear, Norm } from './config.js';
import { attend, ATTENTION_FORM_KEY, SPLIT_PAST } from './attention.js';
import { applyRotary, rotaryTables, type Rotary } from './rope.js';

export interface GraphForm {
  /** Past/present KV-cache inputs and outputs (Optimum / transformers.js naming). */
  kvCache: boolean;
}

const F32_LOWEST = -3.4028234663852886e38;

/**
 * Build the ONNX graph of a decoder-only LM from normalised weights.
 * Full-sequence form: input_ids → logits. KV-cache form adds attention_mask, position_ids,
 * past_key_values.{i}.key|value inputs and present.{i}.key|value outputs.
 */
export function buildDecoder(cfg: DecoderConfig, w: DecoderWeights, form: GraphForm): Model {
  const g = new Graph(`${cfg.arch}_${form.kvCache ? 'decoder_with_past' : 'decoder'}`);
  const b = new Builder(g);
  const { numHeads: H, numKvHeads: KVH, headDim: D } = cfg;

  const ids = g.addInput('input_ids', { dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
  let mask: Value | null = null;
  let positionIds: Value | null = null;
  const past: { key: Value; value: Value }[] = [];
  if (form.kvCache) {
    mask = g.addInput('attention_mask', { dtype: 'int64', shape: ['batch_size', 'total_sequence_length'] });
    positionIds = g.addInput('position_ids', { dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
    for (let i = 0; i < cfg.numLayers; i++) {
      const shape = ['batch_size', KVH, 'past_sequence_length', D];
      past.push({
        key: g.addInput(`past_key_values.${i}.key`, { dtype: 'float32', shape }),
        value: g.addInput(`past_key_values.${i}.value`, { dtype: 'float32', shape }),
      });
    }
  }

  // Lengths: T new tokens, P past tokens (or cache slots), S = P + T keys.
  const types: LayerType[] = cfg.layerTypes ?? Array.from({ length: cfg.numLayers }, () => 'full');
  const { masks, posIds, pastSplit } = b.scope('mask', () => {
    const T = b.op('Gather', [b.op('Shape', [ids]), b.scalarI64(1)], { axis: 0 });
    const P = past.length ? b.op('Gather', [b.op('Shape', [past[0].key]), b.scalarI64(2)], { axis: 0 }) : b.scalarI64(0);
    const S = b.op('Add', [P, T]);
    // Key positions: with an attention_mask, the count of real keys before each (transformers'
    // cumsum − 1), so padding and unused cache slots (mask 0) take no position and a runtime may
    // feed a cache buffer larger than its content; without one, 0..S−1. Queries are the last T keys.
    let kPos: Value, qPos: Value;
    if (mask) {
      kPos = b.op('Sub', [b.op('CumSum', [mask, b.scalarI64(1)]), b.scalarI64(1)]); // [B,S]
      qPos = b.op('Slice', [kPos, b.op('Neg', [b.op('Unsqueeze', [T, b.constI64([0])])]), b.constI64([2 ** 62]), b.constI64([1])]); // [B,T]
    } else {
      kPos = b.op('Unsqueeze', [b.op('Range', [b.scalarI64(0), S, b.scalarI64(1)]), b.constI64([0])]); // [1,S]
      qPos = b.op('Unsqueeze', [b.op('Range', [P, S, b.scalarI64(1)]), b.constI64([0])]); // [1,T]
    }
    const k = b.op('Unsqueeze', [kPos, b.constI64([1])]), q = b.op('Unsqueeze', [qPos, b.constI64([2])]); // [B,1,S], [B,T,1]
    // causal[b, t, s] = pos(s) <= pos(t), over real keys only.
    let causal = b.op('LessOrEqual', [k, q]);
    if (mask) causal = b.op('And', [causal, b.op('Unsqueeze', [b.op('Cast', [mask], { to: 9 }), b.constI64([1])])]);
    // Additive mask [B,1,T,S], computed once per kind: 0 where attending, the lowest float where masked.
    const additive = (m: Value) => b.op('Where', [b.op('Unsqueeze', [m, b.constI64([1])]), b.scalarF32(0), b.scalarF32(F32_LOWEST)]);
    const masks: Partial<Record<LayerType, Value>> = {};
    if (types.includes('full')) masks.full = additive(causal);
    // Sliding window W (transformers' sliding_window_overlay): pos(s) > pos(t) − W.
    if (types.includes('sliding')) masks.sliding = additive(b.op('And', [causal, b.op('Greater', [b.op('Add', [k, b.scalarI64(cfg.slidingWindow!)]), q])], {}, { name: 'window' }));
    const pastSplit = past.length ? b.op('Concat', [b.op('Unsqueeze', [P, b.constI64([0])]), b.op('Unsqueeze', [T, b.constI64([0])])], { axis: 0 }, { name: 'past_split' }) : null;
    // Without position_ids (the full-sequence form, which has no attention_mask either) positions are the query indices.
    return { masks, pastSplit, posIds: positionIds ?? qPos };
  });

  const tok = b.weight(w.tokenEmbedding.name, w.tokenEmbedding.tensor);
  let x = b.op('Gather', [tok, ids], { axis: 0 }, { name: 'embed_tokens' });
  if (cfg.embeddingScale) x = b.op('Mul', [x, b.scalarF32(cfg.embeddingScale)], {}, { name: 'embed_scale' });
  if (cfg.positions === 'learned') {
    const pe = w.positionEmbedding!;
    x = b.op('Add', [x, b.op('Gather', [b.weight(pe.name, pe.tensor), posIds], { axis: 0 }, { name: 'embed_positions' })]);
  }
  // RoPE tables per layer kind: Gemma 3's sliding layers have their own base.
  const ropes: Record<string, Rotary> = {};
  const ropeFor = (t: LayerType): Rotary | null => {
    if (cfg.positions !== 'rope') return null;
    const local = t === 'sliding' && !!cfg.localRope;
    const name = local ? 'rotary_local' : 'rotary';
    return (ropes[name] ??= b.scope(name, () => rotaryTables(b, local ? cfg.localRope! : cfg.rope!, posIds, name)));
  };
  const attnScale = cfg.attentionScale ?? 1 / Math.sqrt(D);

  const presents: Value[] = [];
  w.layers.forEach((lw, i) => b.scope(`layers.${i}`, () => {
    const rope = ropeFor(types[i]);
    const h = norm(b, cfg, x, lw.norm1, 'norm1');
    const a = b.scope('attn', () => {
      let q: Value, k: Value, v: Value;
      // [B,T,n·D] → [B,n,T,D]; Qwen3/Gemma 3 normalise each head of q and k (over D, either layout).
      const heads = (t: Value, n: number, nm: string) => b.op('Transpose', [b.op('Reshape', [t, b.constI64([0, 0, n, D])], {}, { name: `${nm}_reshape` })], { perm: [0, 2, 1, 3] }, { name: `${nm}_transpose` });
      if (lw.qkv) {
        // Fused projection: one reshape and transpose of all heads, then split them (fewer nodes per token).
        [q, k, v] = b.opN('Split', [heads(linear(b, h, lw.qkv, 'qkv'), H + 2 * KVH, 'qkv'), b.constI64([H, KVH, KVH])], 3, { axis: 1 }, { name: 'qkv_split' });
      } else {
        q = heads(linear(b, h, lw.q!, 'q_proj'), H, 'q');
        k = heads(linear(b, h, lw.k!, 'k_proj'), KVH, 'k');
        v = heads(linear(b, h, lw.v!, 'v_proj'), KVH, 'v');
      }
      if (lw.qNorm) q = norm(b, cfg, q, lw.qNorm, 'q_norm');
      if (lw.kNorm) k = norm(b, cfg, k, lw.kNorm, 'k_norm');
      if (rope) { q = applyRotary(b, q, rope, D, 'q'); k = applyRotary(b, k, rope, D, 'k'); }
      if (past.length) {
        presents.push(
          b.op('Concat', [past[i].key, k], { axis: 2 }, { name: 'k_concat', output: `present.${i}.key` }),
          b.op('Concat', [past[i].value, v], { axis: 2 }, { name: 'v_concat', output: `present.${i}.value` }));
      }
      let o = attend(b, q, k, v, past[i] ?? null, pastSplit, masks[types[i]]!, { H, KVH, D }, attnScale);
      o = b.op('Reshape', [b.op('Transpose', [o], { perm: [0, 2, 1, 3] }), b.constI64([0, 0, H * D])]);
      return linear(b, o, lw.o, 'o_proj');
    });
    x = b.op('Add', [x, lw.postAttnNorm ? norm(b, cfg, a, lw.postAttnNorm, 'post_attn_norm') : a], {}, { name: 'residual1' });
    const h2 = norm(b, cfg, x, lw.norm2, 'norm2');
    const m = b.scope('mlp', () => {
      if (lw.gateUp) {
        const [g, u] = b.opN('Split', [linear(b, h2, lw.gateUp, 'gate_up_proj'), b.constI64([cfg.intermediateSize, cfg.intermediateSize])], 2, { axis: -1 });
        return linear(b, b.op('Mul', [activation(b, cfg, g), u]), lw.down, 'down_proj');
      }
      if (lw.gate) {
        const gt = activation(b, cfg, linear(b, h2, lw.gate, 'gate_proj'));
        return linear(b, b.op('Mul', [gt, linear(b, h2, lw.up!, 'up_proj')]), lw.down, 'down_proj');
      }
      return linear(b, activation(b, cfg, linear(b, h2, lw.up!, 'up_proj')), lw.down, 'down_proj');
    });
    x = b.op('Add', [x, lw.postMlpNorm ? norm(b, cfg, m, lw.postMlpNorm, 'post_mlp_norm') : m], {}, { name: 'residual2' });
  }));

  x = norm(b, cfg, x, w.finalNorm, 'final_norm');
  let logits = b.scope('lm_head', () => {
    if (w.lmHead) return linear(b, x, w.lmHead, 'MatMul');
    // Tied head: Gemm with transB reads the [vocab, hidden] embedding without a transposed copy.
    const flat = b.op('Reshape', [x, b.constI64([-1, cfg.hiddenSize])]);
    const y = b.op('Gemm', [flat, tok], { transB: 1 }, { name: 'Gemm' });
    // [batch, positions] of the head input, not of input_ids: a graph that selects positions
    // before the head (runtime/last-logits.ts) then reshapes correctly.
    const outShape = b.op('Concat', [b.op('Shape', [x], { end: 2 }), b.constI64([cfg.vocabSize])], { axis: 0 });
    return b.op('Reshape', [y, outShape]);
  });
  const cap = cfg.finalLogitSoftcap;
  if (cap) logits = b.scope('softcap', () => b.op('Mul', [b.op('Tanh', [b.op('Div', [logits, b.scalarF32(cap)])]), b.scalarF32(cap)]));
  g.renameValue(logits, 'logits');
  logits.type = { dtype: 'float32', shape: ['batch_size', 'sequence_length', cfg.vocabSize] };
  g.markOutput(logits);
  for (const p of presents) {
    p.type = { dtype: 'float32', shape: ['batch_size', KVH, 'total_sequence_length', D] };
    g.markOutput(p);
  }
  const model = new Model(g, [{ domain: '', version: 21 }]);
  model.metadata['quantlab.arch'] = cfg.arch;
  model.metadata['quantlab.form'] = form.kvCache ? 'kv-cache' : 'full-sequence';
  model.metadata['quantlab.config'] = JSON.stringify(cfg);
  model.metadata[ATTENTION_FORM_KEY] = SPLIT_PAST;
  return model;
}

function linear(b: Builder, x: Value, l: Linear, name: string): Value {
  const y = b.op('MatMul', [x, b.weight(l.name, l.weight)], {}, { name });
  return l.bias ? b.op('Add', [y, b.weight(l.bias.name, l.bias.tensor)], {}, { name: `${name}_bias` }) : y;
}

function norm(b: Builder, cfg: DecoderConfig, x: Value, n: Norm, name: string): Value {
  const w = b.weight(n.weight.name, n.weight.tensor);
  if (cfg.norm === 'layernorm') {
    const bias = n.bias ? b.weight(n.bias.name, n.bias.tensor) : null;
    return b.op('LayerNormalization', [x, w, bias], { axis: -1, epsilon: float(cfg.normEps) }, { name });
  }
  return b.scope(name, () => {
    // RMSNorm as HF computes it: x / sqrt(mean(x²) + eps) · w (ORT fuses this pattern).
    const ms = b.op('ReduceMean', [b.op('Pow', [x, b.scalarF32(2)]), b.constI64([-1])], { keepdims: 1 });
    const r = b.op('Sqrt', [b.op('Add', [ms, b.scalarF32(cfg.normEps)])]);
    return b.op('Mul', [b.op('Div', [x, r]), w]);
  });
}

function activation(b: Builder, cfg: DecoderConfig, x: Value): Value {
  switch (cfg.activation) {
    case 'silu': return b.op('Mul', [x, b.op('Sigmoid', [x])], {}, { name: 'silu' });
    case 'relu': return b.op('Relu', [x]);
    case 'gelu': return b.op('Gelu', [x]);
    case 'gelu_new': return b.op('Gelu', [x], { approximate: 'tanh' }, { name: 'gelu_tanh' });
  }
}
