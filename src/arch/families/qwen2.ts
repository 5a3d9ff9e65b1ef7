import type { DecoderConfig } from '../config.js';
import type { Family } from '../family.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset, slidingLayers } from './hf-decoder.js';

/** Qwen2's sliding window: off unless use_sliding_window, then on layers ≥ max_window_layers (or per layer_types). */
export function qwenSliding(c: Record<string, unknown>, file: string, cfg: DecoderConfig): Partial<DecoderConfig> {
  if (c.use_sliding_window !== true) return {}; // transformers sets sliding_window to None then
  const from = typeof c.max_window_layers === 'number' ? c.max_window_layers : 0;
  return slidingLayers(c, file, cfg.numLayers, (i) => (i >= from ? 'sliding' : 'full'));
}

const preset = (c: Parameters<typeof hfPreset>[2]) => hfPreset('qwen2', 'Qwen2ForCausalLM', c, { use_sliding_window: false, sliding_window: c.maxPos, max_window_layers: c.layers });

/** Qwen2 / Qwen2.5: Llama's layout with biases on q, k and v (not o, not the MLP). */
export const qwen2: Family = {
  modelTypes: ['qwen2'],
  config(c, file) {
    const cfg = hfDecoderConfig(c, file, 'qwen2');
    return { ...cfg, qkvBias: true, ...qwenSliding(c, file, cfg) };
  },
  tensors: (cfg) => hfDecoderTensors(cfg),
  presets: {
    'qwen2-tiny': { summary: '2 layers, hidden 64, GQA 4/2, q/k/v biases, tied (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 176, vocab: 512, tied: true, maxPos: 256, theta: 1e6, eps: 1e-6 }) },
    'qwen2.5-0.5b': { summary: 'Qwen/Qwen2.5-0.5B shapes (GQA 14/2, q/k/v biases, tied)', config: preset({ layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, tied: true, maxPos: 32768, theta: 1e6, eps: 1e-6, bos: 151643, eos: 151643 }) },
  },
};
