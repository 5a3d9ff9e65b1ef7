import type { DecoderConfig, DecoderWeights, Linear, Norm } from '../arch/config.js';
import { buildDecoder } from '../arch/decoder.js';
import type { Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

/** Deterministic N(0, std²) samples (xorshift + Box-Muller) so tests are reproducible. */
export function gaussian(n: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())), t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t) * std;
    if (i + 1 < n) out[i + 1] = r * Math.sin(t) * std;
  }
  return out;
}

/** A tiny tied GPT-2 (vocab 96, hidden 64, 2 layers, MLP 256) with random weights of realistic scale. */
export function tinyGpt2Config(over: Partial<DecoderConfig> = {}): DecoderConfig {
  return {
    arch: 'gpt2', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16, intermediateSize: 256,
    maxPositions: 64, norm: 'layernorm', normEps: 1e-5, activation: 'gelu_new', positions: 'learned', tieWordEmbeddings: true, ...over,
  };
}

export function randomGpt2Weights(cfg: DecoderConfig, seed = 1): DecoderWeights {
  let k = seed * 1000;
  const t = (dims: number[], std: number, mean = 0) => {
    const d = gaussian(dims.reduce((a, b) => a * b, 1), std, ++k);
    if (mean) for (let i = 0; i < d.length; i++) d[i] += mean;
    return new Tensor('float32', dims, d);
  };
  const E = cfg.hiddenSize, I = cfg.intermediateSize;
  const lin = (n: string, i: number, o: number): Linear => ({ name: `${n}.weight`, weight: t([i, o], 1 / Math.sqrt(i)), bias: { name: `${n}.bias`, tensor: t([o], 0.05) } });
  const norm = (n: string): Norm => ({ weight: { name: `${n}.weight`, tensor: t([E], 0.1, 1) }, bias: { name: `${n}.bias`, tensor: t([E], 0.05) } });
  const w: DecoderWeights = {
    tokenEmbedding: { name: 'wte.weight', tensor: t([cfg.vocabSize, E], 0.3) },
    positionEmbedding: { name: 'wpe.weight', tensor: t([cfg.maxPositions, E], 0.1) },
    layers: Array.from({ length: cfg.numLayers }, (_, i) => ({
      norm1: norm(`h.${i}.ln_1`), norm2: norm(`h.${i}.ln_2`),
      qkv: lin(`h.${i}.attn.c_attn`, E, 3 * E), o: lin(`h.${i}.attn.c_proj`, E, E),
      up: lin(`h.${i}.mlp.c_fc`, E, I), down: lin(`h.${i}.mlp.c_proj`, I, E),
    })),
    finalNorm: norm('ln_f'),
  };
  if (!cfg.tieWordEmbeddings) w.lmHead = { name: 'lm_head.weight', weight: t([E, cfg.vocabSize], 0.3) };
  return w;
}

export function tinyGpt2(opts: { kvCache?: boolean; seed?: number; config?: Partial<DecoderConfig> } = {}): Model {
  const cfg = tinyGpt2Config(opts.config);
  return buildDecoder(cfg, randomGpt2Weights(cfg, opts.seed ?? 1), { kvCache: opts.kvCache ?? false });
}
