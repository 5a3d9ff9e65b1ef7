import { InputError } from '../../util/errors.js';
import type { DecoderConfig, LayerType } from '../config.js';
import { linearTensors, normTensors, requireCount, requireNumber, type CheckpointTensor } from '../family.js';
import { ropeFromConfig } from '../rope.js';

/**
 * What the Llama-descended families (llama, mistral, qwen2, qwen3, phi3, gemma3_text) share: the
 * config.json keys and the `model.layers.{i}.self_attn.*_proj` tensor names. Each family file
 * says how it differs.
 */
export function hfDecoderConfig(c: Record<string, unknown>, file: string, arch: string, o: { activationKey?: string; defaultActivation?: string } = {}): DecoderConfig {
  const num = (k: string, dflt?: number) => requireNumber(c, k, file, dflt);
  const count = (k: string, dflt?: number) => requireCount(c, k, file, dflt);
  const hidden = count('hidden_size');
  const heads = count('num_attention_heads');
  const kvHeads = count('num_key_value_heads', heads);
  if (!Number.isInteger(heads) || !Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new InputError(file, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  }
  const headDim = c.head_dim == null ? hidden / heads : count('head_dim');
  if (!Number.isInteger(headDim) || headDim < 2) throw new InputError(file, `head_dim ${headDim} is not a whole number (hidden_size / num_attention_heads when absent)`);
  const actKey = o.activationKey ?? 'hidden_act';
  const act = String(c[actKey] ?? o.defaultActivation ?? 'silu');
  const activation = ({ silu: 'silu', swish: 'silu', gelu_pytorch_tanh: 'gelu_new', gelu_new: 'gelu_new', gelu: 'gelu', relu: 'relu' } as const)[act];
  if (!activation) throw new InputError(file, `unsupported ${actKey} '${act}' (silu, gelu, gelu_pytorch_tanh, relu)`);
  return {
    arch, vocabSize: count('vocab_size'), hiddenSize: hidden, numLayers: count('num_hidden_layers'), numHeads: heads,
    numKvHeads: kvHeads, headDim, intermediateSize: count('intermediate_size'), maxPositions: count('max_position_embeddings', 2048),
    norm: 'rmsnorm', normEps: num('rms_norm_eps', 1e-6), activation, positions: 'rope', rope: ropeFromConfig(c, file, headDim),
    tieWordEmbeddings: c.tie_word_embeddings === true,
    bosTokenId: firstId(c.bos_token_id), eosTokenId: firstId(c.eos_token_id),
  };
}

const firstId = (v: unknown): number | undefined => (typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? v[0] : undefined);

/**
 * Sliding-window layers: config.json's `layer_types` when present, else `fallback(i)`. Returns the
 * fields to merge into the config (nothing when every layer attends to the whole context).
 */
export function slidingLayers(c: Record<string, unknown>, file: string, numLayers: number, fallback: (i: number) => LayerType): Pick<DecoderConfig, 'slidingWindow' | 'layerTypes'> {
  let types: LayerType[];
  if (Array.isArray(c.layer_types)) {
    if (c.layer_types.length !== numLayers) throw new InputError(file, `layer_types has ${c.layer_types.length} entries for ${numLayers} layers`);
    types = c.layer_types.map((t, i) => {
      if (t === 'sliding_attention') return 'sliding';
      if (t === 'full_attention') return 'full';
      throw new InputError(file, `layer_types[${i}] '${t}' is not sliding_attention or full_attention`);
    });
  } else types = Array.from({ length: numLayers }, (_, i) => fallback(i));
  if (!types.includes('sliding')) return {};
  const w = c.sliding_window;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1) throw new InputError(file, `sliding_window must be a positive integer for sliding_attention layers, got ${JSON.stringify(w)}`);
  return { slidingWindow: w, layerTypes: types };
}

export interface HfTensorOptions {
  /** Phi-3: `qkv_proj` and `gate_up_proj`. */
  fused?: boolean;
  /** Gemma: norms stored as w, used as 1 + w. */
  plusOneNorms?: boolean;
}

/** The checkpoint tensors of a Llama-style model (names, HF shapes and init). */
export function hfDecoderTensors(cfg: DecoderConfig, o: HfTensorOptions = {}): CheckpointTensor[] {
  const E = cfg.hiddenSize, D = cfg.headDim, I = cfg.intermediateSize, H = cfg.numHeads, KVH = cfg.numKvHeads;
  const qFrom = 'num_attention_heads × head_dim', kvFrom = 'num_key_value_heads × head_dim';
  const out: CheckpointTensor[] = [
    { name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, E], init: { kind: 'normal', std: 0.02 }, role: { at: 'embed' }, from: 'vocab_size × hidden_size' },
  ];
  const norm = (n: string, layer: number, slot: Parameters<typeof normTensors>[2], size = E) =>
    normTensors(n, size, slot, { plusOne: o.plusOneNorms, from: size === E ? 'hidden_size' : `model_type ${cfg.arch} has per-head q/k norms of head_dim` });
  for (let i = 0; i < cfg.numLayers; i++) {
    const l = `model.layers.${i}`, at = (slot: 'q' | 'k' | 'v' | 'o' | 'qkv' | 'gate' | 'up' | 'gateUp' | 'down') => ({ layer: i, slot });
    out.push(...norm(`${l}.input_layernorm`, i, { layer: i, slot: 'norm1' }));
    if (o.fused) out.push(...linearTensors(`${l}.self_attn.qkv_proj`, (H + 2 * KVH) * D, E, !!cfg.qkvBias, at('qkv'), `(num_attention_heads + 2 × num_key_value_heads) × head_dim`));
    else {
      out.push(...linearTensors(`${l}.self_attn.q_proj`, H * D, E, !!cfg.qkvBias, at('q'), qFrom));
      out.push(...linearTensors(`${l}.self_attn.k_proj`, KVH * D, E, !!cfg.qkvBias, at('k'), kvFrom));
      out.push(...linearTensors(`${l}.self_attn.v_proj`, KVH * D, E, !!cfg.qkvBias, at('v'), kvFrom));
    }
    out.push(...linearTensors(`${l}.self_attn.o_proj`, E, H * D, !!cfg.oBias, at('o'), qFrom));
    if (cfg.qkNorm) {
      out.push(...norm(`${l}.self_attn.q_norm`, i, { layer: i, slot: 'qNorm' }, D));
      out.push(...norm(`${l}.self_attn.k_norm`, i, { layer: i, slot: 'kNorm' }, D));
    }
    if (cfg.sandwichNorms) {
      // Gemma: post_attention_layernorm normalises the attention output; pre_feedforward_layernorm feeds the MLP.
      out.push(...norm(`${l}.post_attention_layernorm`, i, { layer: i, slot: 'postAttnNorm' }));
      out.push(...norm(`${l}.pre_feedforward_layernorm`, i, { layer: i, slot: 'norm2' }));
    } else out.push(...norm(`${l}.post_attention_layernorm`, i, { layer: i, slot: 'norm2' }));
    if (o.fused) out.push(...linearTensors(`${l}.mlp.gate_up_proj`, 2 * I, E, !!cfg.mlpBias, at('gateUp'), '2 × intermediate_size'));
    else {
      out.push(...linearTensors(`${l}.mlp.gate_proj`, I, E, !!cfg.mlpBias, at('gate'), 'intermediate_size'));
      out.push(...linearTensors(`${l}.mlp.up_proj`, I, E, !!cfg.mlpBias, at('up'), 'intermediate_size'));
    }
    out.push(...linearTensors(`${l}.mlp.down_proj`, E, I, !!cfg.mlpBias, at('down'), 'intermediate_size'));
    if (cfg.sandwichNorms) out.push(...norm(`${l}.post_feedforward_layernorm`, i, { layer: i, slot: 'postMlpNorm' }));
  }
  out.push(...norm('model.norm', -1, 'final'));
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, E], init: { kind: 'normal', std: 0.02 }, role: { at: 'lmHead' }, transform: 'transpose', from: 'tie_word_embeddings false' });
  return out;
}

/** Preset config.json fields common to the Llama-style families. */
export function hfPreset(modelType: string, architecture: string, c: {
  layers: number; hidden: number; heads: number; kvHeads: number; intermediate: number; vocab: number; tied: boolean;
  maxPos?: number; eps?: number; theta?: number; bos?: number; eos?: number; headDim?: number;
}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: [architecture], model_type: modelType, vocab_size: c.vocab, hidden_size: c.hidden, intermediate_size: c.intermediate,
    num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, ...(c.headDim ? { head_dim: c.headDim } : {}),
    hidden_act: 'silu', max_position_embeddings: c.maxPos ?? 2048, rms_norm_eps: c.eps ?? 1e-5, rope_theta: c.theta ?? 10000,
    initializer_range: 0.02, bos_token_id: c.bos ?? 1, eos_token_id: c.eos ?? 2, tie_word_embeddings: c.tied, ...extra,
  };
}
