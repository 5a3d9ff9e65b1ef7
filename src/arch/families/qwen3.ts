import type { Family } from '../family.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset } from './hf-decoder.js';
import { qwenSliding } from './qwen2.js';

const preset = (c: Parameters<typeof hfPreset>[2]) => hfPreset('qwen3', 'Qwen3ForCausalLM', c, { attention_bias: false, use_sliding_window: false, sliding_window: null, max_window_layers: c.layers });

/** Qwen3 (dense): per-head RMSNorm on q and k before RoPE, head_dim independent of hidden/heads, no biases. */
export const qwen3: Family = {
  modelTypes: ['qwen3'],
  config(c, file) {
    const cfg = hfDecoderConfig(c, file, 'qwen3');
    const bias = c.attention_bias === true;
    return { ...cfg, qkNorm: true, qkvBias: bias, oBias: bias, ...qwenSliding(c, file, cfg) };
  },
  tensors: (cfg) => hfDecoderTensors(cfg),
  presets: {
    'qwen3-tiny': { summary: '2 layers, hidden 64, GQA 4/2, head_dim 32 (4×32 ≠ 64), q/k norms, tied (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, headDim: 32, intermediate: 176, vocab: 512, tied: true, maxPos: 256, theta: 1e6, eps: 1e-6 }) },
    'qwen3-0.6b': { summary: 'Qwen/Qwen3-0.6B shapes (GQA 16/8, head_dim 128, q/k norms, tied)', config: preset({ layers: 28, hidden: 1024, heads: 16, kvHeads: 8, headDim: 128, intermediate: 3072, vocab: 151936, tied: true, maxPos: 40960, theta: 1e6, eps: 1e-6, bos: 151643, eos: 151645 }) },
  },
};
