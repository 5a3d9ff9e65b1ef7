import { InputError } from '../../util/errors.js';
import type { Family } from '../family.js';
import { requireNumber } from '../family.js';
import { ropeFromConfig } from '../rope.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset, slidingLayers } from './hf-decoder.js';

const preset = (c: Parameters<typeof hfPreset>[2], o: { window: number; pattern: number; scalar: number; softcap?: number }) => {
  const { hidden_act: _, ...base } = hfPreset('gemma3_text', 'Gemma3ForCausalLM', c);
  return {
    ...base, hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: o.scalar, sliding_window: o.window, sliding_window_pattern: o.pattern,
    rope_local_base_freq: 10000, rope_scaling: null, final_logit_softcapping: o.softcap ?? null, attn_logit_softcapping: null, pad_token_id: 0,
  };
};

/**
 * Gemma 3 (text): RMSNorm scaled by (1 + w), embeddings × √hidden, GeGLU with tanh-GELU, q/k norms,
 * head_dim apart from hidden/heads, norms before and after attention and MLP, sliding-window layers
 * (own RoPE base `rope_local_base_freq`, no scaling) between global ones, attention scale
 * query_pre_attn_scalar^-½, optional final logit soft-capping.
 */
export const gemma3: Family = {
  modelTypes: ['gemma3_text'],
  config(c, file) {
    const cfg = hfDecoderConfig(c, file, 'gemma3_text', { activationKey: 'hidden_activation', defaultActivation: 'gelu_pytorch_tanh' });
    if (c.attn_logit_softcapping != null) throw new InputError(file, 'attn_logit_softcapping is not supported (Gemma 3 checkpoints set it to null)');
    const pattern = requireNumber(c, 'sliding_window_pattern', file, 6);
    const softcap = c.final_logit_softcapping == null ? undefined : requireNumber(c, 'final_logit_softcapping', file);
    return {
      ...cfg, tieWordEmbeddings: c.tie_word_embeddings !== false, qkNorm: true, sandwichNorms: true,
      qkvBias: c.attention_bias === true, oBias: c.attention_bias === true,
      embeddingScale: Math.sqrt(cfg.hiddenSize),
      attentionScale: 1 / Math.sqrt(requireNumber(c, 'query_pre_attn_scalar', file, cfg.headDim)),
      ...(softcap ? { finalLogitSoftcap: softcap } : {}),
      localRope: ropeFromConfig({ ...c, rope_scaling: null }, file, cfg.headDim, requireNumber(c, 'rope_local_base_freq', file, 10000)),
      ...slidingLayers(c, file, cfg.numLayers, (i) => ((i + 1) % pattern ? 'sliding' : 'full')),
    };
  },
  tensors: (cfg) => hfDecoderTensors(cfg, { plusOneNorms: true }),
  presets: {
    'gemma3-tiny': { summary: '3 layers (sliding, full, sliding), hidden 48, 4 heads × 16, 1 KV head, window 4, soft-cap 30 (for tests)', config: preset({ layers: 3, hidden: 48, heads: 4, kvHeads: 1, headDim: 16, intermediate: 96, vocab: 512, tied: true, maxPos: 256, eps: 1e-6, theta: 1e6, bos: 2, eos: 1 }, { window: 4, pattern: 2, scalar: 16, softcap: 30 }) },
    'gemma3-1b': { summary: 'google/gemma-3-1b-pt shapes (4 heads × 256, 1 KV head, 5:1 local/global, window 512)', config: preset({ layers: 26, hidden: 1152, heads: 4, kvHeads: 1, headDim: 256, intermediate: 6912, vocab: 262144, tied: true, maxPos: 32768, eps: 1e-6, theta: 1e6, bos: 2, eos: 1 }, { window: 512, pattern: 6, scalar: 256 }) },
  },
};
