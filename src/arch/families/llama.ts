import type { Family } from '../family.js';
import { hfDecoderConfig, hfDecoderTensors, hfPreset } from './hf-decoder.js';

const llama3Rope = (factor: number) => ({ rope_scaling: { rope_type: 'llama3', factor, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 } });
const preset = (c: Parameters<typeof hfPreset>[2], extra?: Record<string, unknown>) => hfPreset('llama', 'LlamaForCausalLM', c, extra);

/** Llama 1/2/3.x (rope_scaling linear, dynamic, llama3), TinyLlama, SmolLM/SmolLM2. */
export const llama: Family = {
  modelTypes: ['llama'],
  config(c, file) {
    return { ...hfDecoderConfig(c, file, 'llama'), qkvBias: c.attention_bias === true, oBias: c.attention_bias === true, mlpBias: c.mlp_bias === true };
  },
  tensors: (cfg) => hfDecoderTensors(cfg),
  presets: {
    'llama-tiny': { summary: '2 layers, hidden 64, GQA 4/2 (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 176, vocab: 512, tied: false, maxPos: 256 }) },
    'llama3-tiny': { summary: '2 layers, hidden 64, GQA 4/2, llama3 rope scaling, tied (for tests)', config: preset({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 176, vocab: 512, tied: true, maxPos: 256, theta: 500000 }, llama3Rope(8)) },
    'llama-160m': { summary: 'JackFram/llama-160m shapes', config: preset({ layers: 12, hidden: 768, heads: 12, kvHeads: 12, intermediate: 3072, vocab: 32000, tied: false, eps: 1e-6 }) },
    'smollm-135m': { summary: 'SmolLM-135M shapes (GQA 9/3, tied)', config: preset({ layers: 30, hidden: 576, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, tied: true, bos: 0, eos: 0 }) },
    'smollm2-135m': { summary: 'HuggingFaceTB/SmolLM2-135M shapes (GQA 9/3, tied, rope_theta 100000)', config: preset({ layers: 30, hidden: 576, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, tied: true, maxPos: 8192, theta: 100000, bos: 0, eos: 0 }) },
    'tinyllama-1.1b': { summary: 'TinyLlama-1.1B shapes (GQA 32/4)', config: preset({ layers: 22, hidden: 2048, heads: 32, kvHeads: 4, intermediate: 5632, vocab: 32000, tied: false }) },
    'llama3.2-1b': { summary: 'meta-llama/Llama-3.2-1B shapes (GQA 32/8, tied, llama3 rope ×32)', config: preset({ layers: 16, hidden: 2048, heads: 32, kvHeads: 8, intermediate: 8192, vocab: 128256, tied: true, maxPos: 131072, theta: 500000, bos: 128000, eos: 128001, headDim: 64 }, llama3Rope(32)) },
    'llama3.1-8b': { summary: 'meta-llama/Llama-3.1-8B shapes (GQA 32/8, llama3 rope ×8)', config: preset({ layers: 32, hidden: 4096, heads: 32, kvHeads: 8, intermediate: 14336, vocab: 128256, tied: false, maxPos: 131072, theta: 500000, bos: 128000, eos: 128001 }, llama3Rope(8)) },
  },
};
