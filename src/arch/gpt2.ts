import type { Tensor } from '../ir/tensor.js';
import type { DecoderConfig, DecoderWeights, Linear, Norm } from './config.js';
import { requireNumber, WeightSource } from './weights.js';
import { InputError } from '../util/errors.js';

/** GPT2LMHeadModel config.json → DecoderConfig. */
export function gpt2Config(c: Record<string, unknown>, file: string): DecoderConfig {
  const num = (k: string, dflt?: number) => requireNumber(c, k, file, dflt);
  const hidden = num('n_embd');
  const heads = num('n_head');
  const act = String(c.activation_function ?? 'gelu_new');
  const activation = ({ gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' } as const)[act];
  if (!activation) throw new InputError(file, `unsupported activation_function '${act}' (gelu_new, gelu, relu)`);
  return {
    arch: 'gpt2', vocabSize: num('vocab_size'), hiddenSize: hidden, numLayers: num('n_layer'), numHeads: heads, numKvHeads: heads,
    headDim: hidden / heads, intermediateSize: typeof c.n_inner === 'number' ? c.n_inner : 4 * hidden,
    maxPositions: num('n_positions', 1024), norm: 'layernorm', normEps: num('layer_norm_epsilon', 1e-5), activation,
    positions: 'learned', ropeTheta: 0, tieWordEmbeddings: c.tie_word_embeddings !== false,
    bosTokenId: c.bos_token_id as number | undefined, eosTokenId: c.eos_token_id as number | undefined,
  };
}

/** Map GPT-2 parameters (with or without the `transformer.` prefix; Conv1D weights are [in, out]). */
export function gpt2Weights(cfg: DecoderConfig, src: WeightSource): DecoderWeights {
  const prefix = src.has('transformer.wte.weight') ? 'transformer.' : '';
  const t = (n: string, shape: number[]) => src.get(prefix + n, shape);
  const E = cfg.hiddenSize;
  const lin = (n: string, i: number, o: number): Linear => ({
    name: `${prefix}${n}.weight`, weight: t(`${n}.weight`, [i, o]), bias: { name: `${prefix}${n}.bias`, tensor: t(`${n}.bias`, [o]) },
  });
  const norm = (n: string): Norm => ({
    weight: { name: `${prefix}${n}.weight`, tensor: t(`${n}.weight`, [E]) }, bias: { name: `${prefix}${n}.bias`, tensor: t(`${n}.bias`, [E]) },
  });
  const wte: Tensor = t('wte.weight', [cfg.vocabSize, E]);
  const weights: DecoderWeights = {
    tokenEmbedding: { name: `${prefix}wte.weight`, tensor: wte },
    positionEmbedding: { name: `${prefix}wpe.weight`, tensor: t('wpe.weight', [cfg.maxPositions, E]) },
    layers: Array.from({ length: cfg.numLayers }, (_, i) => ({
      norm1: norm(`h.${i}.ln_1`), norm2: norm(`h.${i}.ln_2`),
      qkv: lin(`h.${i}.attn.c_attn`, E, 3 * E), o: lin(`h.${i}.attn.c_proj`, E, E),
      up: lin(`h.${i}.mlp.c_fc`, E, cfg.intermediateSize), down: lin(`h.${i}.mlp.c_proj`, cfg.intermediateSize, E),
    })),
    finalNorm: norm('ln_f'),
  };
  if (!cfg.tieWordEmbeddings || (src.has('lm_head.weight') && !src.sameAs('lm_head.weight', `${prefix}wte.weight`))) {
    if (src.has('lm_head.weight')) {
      weights.lmHead = { name: 'lm_head.weight', weight: src.getTransposed('lm_head.weight', [cfg.vocabSize, E]) };
    }
  }
  return weights;
}

