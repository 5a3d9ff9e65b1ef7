import type { DecoderConfig, DecoderWeights } from '../arch/config.js';
import { assembleWeights, toGraphLayout } from '../arch/family.js';
import { familyOf } from '../arch/index.js';
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

/**
 * Fresh decoder weights for `cfg` (pretraining from scratch, tests): the family's checkpoint
 * tensors drawn as Hugging Face initialises them (`std` overrides every normal's deviation), in
 * the graph's layout and under their checkpoint names.
 */
export function initDecoderWeights(cfg: DecoderConfig, opts: InitOptions = {}): DecoderWeights {
  const randn = normalRng(opts.seed ?? 0);
  const normSd = opts.perturbNorms ? 0.1 : 0;
  const draw = (n: number, mean: number, sd: number) => Float32Array.from({ length: n }, () => mean + sd * randn());
  return assembleWeights(cfg, familyOf(cfg.arch).tensors(cfg), (s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.init.kind === 'normal' ? draw(n, 0, opts.std ?? s.init.std) : draw(n, s.init.kind === 'ones' ? 1 : 0, normSd);
    return { name: s.name, tensor: toGraphLayout(new Tensor('float32', s.shape, data), s.transform) };
  });
}

/** Small configs for tests and smoke runs. */
export function tinyConfig(arch: 'gpt2' | 'llama', o: Partial<DecoderConfig> = {}): DecoderConfig {
  const base: DecoderConfig = arch === 'gpt2'
    ? { arch, vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 2, headDim: 8, intermediateSize: 32, maxPositions: 32,
      norm: 'layernorm', normEps: 1e-5, activation: 'gelu_new', positions: 'learned', tieWordEmbeddings: true }
    : { arch, vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 32, maxPositions: 32,
      norm: 'rmsnorm', normEps: 1e-5, activation: 'silu', positions: 'rope', rope: { theta: 10000, rotaryDim: 4 }, tieWordEmbeddings: false };
  return { ...base, ...o };
}
