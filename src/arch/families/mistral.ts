import type { Family } from '../family.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset, slidingLayers } from './hf-decoder.js';

const preset = (c: Parameters<typeof hfPreset>[2], window: number | null) => hfPreset('mistral', 'MistralForCausalLM', c, { sliding_window: window });

/** Mistral: Llama's layout with sliding-window attention on every layer (`sliding_window`, null = none). */
export const mistral: Family = {
  modelTypes: ['mistral'],
  config(c, file) {
    const cfg = hfDecoderConfig(c, file, 'mistral');
    return { ...cfg, ...slidingLayers(c, file, cfg.numLayers, () => (c.sliding_window == null ? 'full' : 'sliding')) };
  },
  tensors: (cfg) => hfDecoderTensors(cfg),
  presets: {
    'mistral-tiny': { summary: '2 layers, hidden 64, GQA 4/2, sliding window 8 (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 176, vocab: 512, tied: false, maxPos: 256 }, 8) },
    'mistral-7b': { summary: 'mistralai/Mistral-7B-v0.1 shapes (GQA 32/8, sliding window 4096)', config: preset({ layers: 32, hidden: 4096, heads: 32, kvHeads: 8, intermediate: 14336, vocab: 32000, tied: false, maxPos: 32768 }, 4096) },
  },
};
