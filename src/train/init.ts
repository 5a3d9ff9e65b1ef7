import type { DecoderConfig, DecoderWeights, Linear, Norm } from '../arch/config.js';
import { Tensor } from '../ir/tensor.js';

export interface InitOptions {
  seed?: number;
  /** Standard deviation of weight matrices and embeddings (GPT-2 uses 0.02). */
  std?: number;
  /** Draw norm scales around 1 and biases around 0 at random instead of exactly 1 and 0 (gradient checks). */
  perturbNorms?: boolean;
}

/** Seeded normal(0, 1) numbers (mulberry32 + Box–Muller). */
export function normalRng(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Fresh decoder weights for `cfg` (pretraining from scratch, tests), in HF-style names. */
export function initDecoderWeights(cfg: DecoderConfig, opts: InitOptions = {}): DecoderWeights {
  const randn = normalRng(opts.seed ?? 0);
  const std = opts.std ?? 0.02;
  const t = (dims: number[], mean: number, sd: number) => Tensor.f32(dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => mean + sd * randn()));
  const normSd = opts.perturbNorms ? 0.1 : 0;
  const E = cfg.hiddenSize, H = cfg.numHeads, KVH = cfg.numKvHeads, Dh = cfg.headDim, I = cfg.intermediateSize;
  const withBias = cfg.arch === 'gpt2';
  const lin = (name: string, i: number, o: number, bias = withBias): Linear => ({
    name: `${name}.weight`, weight: t([i, o], 0, std), ...(bias ? { bias: { name: `${name}.bias`, tensor: t([o], 0, normSd) } } : {}),
  });
  const norm = (name: string): Norm => ({
    weight: { name: `${name}.weight`, tensor: t([E], 1, normSd) },
    ...(cfg.norm === 'layernorm' ? { bias: { name: `${name}.bias`, tensor: t([E], 0, normSd) } } : {}),
  });
  const layers = Array.from({ length: cfg.numLayers }, (_, i) => {
    const p = `layers.${i}`;
    const attn = cfg.arch === 'gpt2'
      ? { qkv: lin(`${p}.attn.qkv`, E, (H + 2 * KVH) * Dh) }
      : { q: lin(`${p}.attn.q_proj`, E, H * Dh, !!cfg.attentionBias), k: lin(`${p}.attn.k_proj`, E, KVH * Dh, !!cfg.attentionBias), v: lin(`${p}.attn.v_proj`, E, KVH * Dh, !!cfg.attentionBias) };
    const mlpBias = cfg.arch === 'gpt2' || !!cfg.mlpBias;
    return {
      norm1: norm(`${p}.norm1`), norm2: norm(`${p}.norm2`), ...attn,
      o: lin(`${p}.attn.o_proj`, H * Dh, E, cfg.arch === 'gpt2' || !!cfg.attentionBias),
      up: lin(`${p}.mlp.up_proj`, E, I, mlpBias),
      ...(cfg.activation === 'silu' ? { gate: lin(`${p}.mlp.gate_proj`, E, I, mlpBias) } : {}),
      down: lin(`${p}.mlp.down_proj`, I, E, mlpBias),
    };
  });
  return {
    tokenEmbedding: { name: 'embed_tokens.weight', tensor: t([cfg.vocabSize, E], 0, std) },
    ...(cfg.positions === 'learned' ? { positionEmbedding: { name: 'embed_positions.weight', tensor: t([cfg.maxPositions, E], 0, std) } } : {}),
    layers,
    finalNorm: norm('final_norm'),
    ...(cfg.tieWordEmbeddings ? {} : { lmHead: lin('lm_head', E, cfg.vocabSize, false) }),
  };
}

/** Small configs for tests and smoke runs. */
export function tinyConfig(arch: 'gpt2' | 'llama', o: Partial<DecoderConfig> = {}): DecoderConfig {
  const base: DecoderConfig = arch === 'gpt2'
    ? { arch, vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 2, headDim: 8, intermediateSize: 32, maxPositions: 32,
      norm: 'layernorm', normEps: 1e-5, activation: 'gelu_new', positions: 'learned', ropeTheta: 0, tieWordEmbeddings: true }
    : { arch, vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 32, maxPositions: 32,
      norm: 'rmsnorm', normEps: 1e-5, activation: 'silu', positions: 'rope', ropeTheta: 10000, tieWordEmbeddings: false };
  return { ...base, ...o };
}
