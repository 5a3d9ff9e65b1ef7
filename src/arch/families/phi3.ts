import { InputError } from '../../util/errors.js';
import type { Family } from '../family.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset, slidingLayers } from './hf-decoder.js';

/** Illustrative longrope factors (the real ones are data, not shape): short ≈ 1, long rising to `top`. */
const ramp = (n: number, top: number) => Array.from({ length: n }, (_, i) => Number((1 + (top - 1) * (i / (n - 1)) ** 2).toFixed(4)));

const preset = (c: Parameters<typeof hfPreset>[2], o: { originalMax: number; window: number | null; longTop: number }) => {
  const half = (c.headDim ?? c.hidden / c.heads) / 2;
  return hfPreset('phi3', 'Phi3ForCausalLM', c, {
    original_max_position_embeddings: o.originalMax, sliding_window: o.window,
    rope_scaling: { type: 'longrope', short_factor: ramp(half, 1.5), long_factor: ramp(half, o.longTop) },
  });
};

/**
 * Phi-3 / Phi-3.5: fused `qkv_proj` (q, k, v rows) and `gate_up_proj` (gate rows, then up), `longrope`
 * (`su`) scaling with short/long factors, partial rotary where `partial_rotary_factor` < 1, and a
 * sliding window on every layer when `sliding_window` is set.
 */
export const phi3: Family = {
  modelTypes: ['phi3'],
  config(c, file) {
    const cfg = hfDecoderConfig(c, file, 'phi3');
    if (c.attention_bias === true) throw new InputError(file, "attention_bias true is not supported for phi3 (Phi-3 checkpoints have none)");
    return { ...cfg, ...slidingLayers(c, file, cfg.numLayers, () => (c.sliding_window == null ? 'full' : 'sliding')) };
  },
  tensors: (cfg) => hfDecoderTensors(cfg, { fused: true }),
  presets: {
    'phi3-tiny': { summary: '2 layers, hidden 64, 4 heads, fused projections, longrope past 16 tokens, window 24 (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 4, intermediate: 176, vocab: 512, tied: false, maxPos: 256, eos: 2 }, { originalMax: 16, window: 24, longTop: 8 }) },
    'phi3.5-mini': { summary: 'microsoft/Phi-3.5-mini-instruct shapes (32 heads, fused projections, longrope 4k→128k; illustrative factors)', config: preset({ layers: 32, hidden: 3072, heads: 32, kvHeads: 32, intermediate: 8192, vocab: 32064, tied: false, maxPos: 131072, bos: 1, eos: 32000 }, { originalMax: 4096, window: 262144, longTop: 60 }) },
  },
};
