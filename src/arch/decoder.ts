import { Builder, float } from '../ir/builder.js';
import { Graph, Model, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { DecoderConfig, DecoderWeights, Linear, Norm } from './config.js';

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

  // Lengths: T new tokens, P past tokens, S = P + T.
  const { attnMask, posIds } = b.scope('mask', () => {
    const T = b.op('Gather', [b.op('Shape', [ids]), b.scalarI64(1)], { axis: 0 });
    const P = past.length ? b.op('Gather', [b.op('Shape', [past[0].key]), b.scalarI64(2)], { axis: 0 }) : b.scalarI64(0);
    const S = b.op('Add', [P, T]);
    const qPos = b.op('Range', [P, S, b.scalarI64(1)]);
    const kPos = b.op('Range', [b.scalarI64(0), S, b.scalarI64(1)]);
    // causal[t, s] = s <= P + t
    let m = b.op('LessOrEqual', [b.op('Unsqueeze', [kPos, b.constI64([0])]), b.op('Unsqueeze', [qPos, b.constI64([1])])]);
    if (mask) {
      const pad = b.op('Unsqueeze', [b.op('Cast', [mask], { to: 9 }), b.constI64([1, 2])]); // [B,1,1,S]
      m = b.op('And', [m, pad]); // [B,1,T,S]
    }
    // Additive mask, computed once: 0 where attending, the lowest float where masked.
    const bias = b.op('Where', [m, b.scalarF32(0), b.scalarF32(F32_LOWEST)]);
    return { attnMask: bias, posIds: positionIds ?? b.op('Unsqueeze', [qPos, b.constI64([0])]) };
  });

  const tok = b.weight(w.tokenEmbedding.name, w.tokenEmbedding.tensor);
  let x = b.op('Gather', [tok, ids], { axis: 0 }, { name: 'embed_tokens' });
  if (cfg.positions === 'learned') {
    const pe = w.positionEmbedding!;
    x = b.op('Add', [x, b.op('Gather', [b.weight(pe.name, pe.tensor), posIds], { axis: 0 }, { name: 'embed_positions' })]);
  }
  const rope = cfg.positions === 'rope' ? b.scope('rotary', () => rotaryTables(b, cfg, posIds)) : null;

  const presents: Value[] = [];
  w.layers.forEach((lw, i) => b.scope(`layers.${i}`, () => {
    const h = norm(b, cfg, x, lw.norm1, 'norm1');
    const a = b.scope('attn', () => {
      let q: Value, k: Value, v: Value;
      if (lw.qkv) {
        [q, k, v] = b.opN('Split', [linear(b, h, lw.qkv, 'qkv'), b.constI64([H * D, KVH * D, KVH * D])], 3, { axis: -1 });
      } else {
        q = linear(b, h, lw.q!, 'q_proj');
        k = linear(b, h, lw.k!, 'k_proj');
        v = linear(b, h, lw.v!, 'v_proj');
      }
      const heads = (t: Value, n: number, nm: string) =>
        b.op('Transpose', [b.op('Reshape', [t, b.constI64([0, 0, n, D])], {}, { name: `${nm}_reshape` })], { perm: [0, 2, 1, 3] }, { name: `${nm}_transpose` });
      q = heads(q, H, 'q'); k = heads(k, KVH, 'k'); v = heads(v, KVH, 'v');
      if (rope) { q = applyRotary(b, q, rope, D, 'q'); k = applyRotary(b, k, rope, D, 'k'); }
      if (past.length) {
        k = b.op('Concat', [past[i].key, k], { axis: 2 }, { name: 'k_concat', output: `present.${i}.key` });
        v = b.op('Concat', [past[i].value, v], { axis: 2 }, { name: 'v_concat', output: `present.${i}.value` });
        presents.push(k, v);
      }
      if (KVH !== H) {
        const rep = (t: Value, nm: string) => b.op('Reshape', [
          b.op('Expand', [b.op('Unsqueeze', [t, b.constI64([2])]), b.constI64([1, 1, H / KVH, 1, 1])], {}, { name: `${nm}_expand` }),
          b.constI64([0, H, -1, D])], {}, { name: `${nm}_repeat` });
        k = rep(k, 'k'); v = rep(v, 'v');
      }
      let s = b.op('MatMul', [q, b.op('Transpose', [k], { perm: [0, 1, 3, 2] })], {}, { name: 'scores' });
      s = b.op('Mul', [s, b.scalarF32(1 / Math.sqrt(D))]);
      s = b.op('Add', [s, attnMask], {}, { name: 'mask' });
      const p = b.op('Softmax', [s], { axis: -1 });
      let o = b.op('MatMul', [p, v], {}, { name: 'context' });
      o = b.op('Reshape', [b.op('Transpose', [o], { perm: [0, 2, 1, 3] }), b.constI64([0, 0, H * D])]);
      return linear(b, o, lw.o, 'o_proj');
    });
    x = b.op('Add', [x, a], {}, { name: 'residual1' });
    const h2 = norm(b, cfg, x, lw.norm2, 'norm2');
    const m = b.scope('mlp', () => {
      if (lw.gate) {
        const gt = activation(b, cfg, linear(b, h2, lw.gate, 'gate_proj'));
        return linear(b, b.op('Mul', [gt, linear(b, h2, lw.up, 'up_proj')]), lw.down, 'down_proj');
      }
      return linear(b, activation(b, cfg, linear(b, h2, lw.up, 'up_proj')), lw.down, 'down_proj');
    });
    x = b.op('Add', [x, m], {}, { name: 'residual2' });
  }));

  x = norm(b, cfg, x, w.finalNorm, 'final_norm');
  const logits = b.scope('lm_head', () => {
    if (w.lmHead) return linear(b, x, w.lmHead, 'MatMul');
    // Tied head: Gemm with transB reads the [vocab, hidden] embedding without a transposed copy.
    const flat = b.op('Reshape', [x, b.constI64([-1, cfg.hiddenSize])]);
    const y = b.op('Gemm', [flat, tok], { transB: 1 }, { name: 'Gemm' });
    // [batch, positions] of the head input, not of input_ids: a graph that selects positions
    // before the head (runtime/last-logits.ts) then reshapes correctly.
    const outShape = b.op('Concat', [b.op('Shape', [x], { end: 2 }), b.constI64([cfg.vocabSize])], { axis: 0 });
    return b.op('Reshape', [y, outShape]);
  });
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

interface Rotary { cos: Value; sin: Value }

/** cos/sin tables [B,1,T,D] from position ids, in the HF rotate-half convention. */
function rotaryTables(b: Builder, cfg: DecoderConfig, posIds: Value): Rotary {
  const D = cfg.headDim;
  const inv = new Float32Array(D / 2);
  for (let i = 0; i < D / 2; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, Math.fround((2 * i) / D));
  const invFreq = b.weight('rotary.inv_freq', new Tensor('float32', [D / 2], inv));
  const pos = b.op('Unsqueeze', [b.op('Cast', [posIds], { to: 1 }), b.constI64([-1])]); // [B,T,1]
  const freqs = b.op('Mul', [pos, invFreq]); // [B,T,D/2]
  const emb = b.op('Unsqueeze', [b.op('Concat', [freqs, freqs], { axis: -1 }), b.constI64([1])]); // [B,1,T,D]
  return { cos: b.op('Cos', [emb]), sin: b.op('Sin', [emb]) };
}

function applyRotary(b: Builder, x: Value, r: Rotary, D: number, name: string): Value {
  return b.scope(`rotary_${name}`, () => {
    const [x1, x2] = b.opN('Split', [x, b.constI64([D / 2, D / 2])], 2, { axis: -1 });
    const rot = b.op('Concat', [b.op('Neg', [x2]), x1], { axis: -1 });
    return b.op('Add', [b.op('Mul', [x, r.cos]), b.op('Mul', [rot, r.sin])]);
  });
}
