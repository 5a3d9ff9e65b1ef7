import { InputError } from '../../util/errors.js';
import type { CheckpointTensor, Family, Init } from '../family.js';
import { normTensors, requireCount, requireNumber } from '../family.js';

const P = 'transformer.';

const preset = (n_layer: number, n_embd: number, n_head: number, n_positions = 1024) => ({
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 50257, n_positions, n_ctx: n_positions, n_embd, n_layer, n_head,
  n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, initializer_range: 0.02,
  bos_token_id: 50256, eos_token_id: 50256, tie_word_embeddings: true,
});

/** GPT-2: learned positions, LayerNorm, Conv1D weights stored [in, out] (no transposition), fused c_attn, tied head. */
export const gpt2: Family = {
  modelTypes: ['gpt2'],
  config(c, file) {
    const num = (k: string, dflt?: number) => requireNumber(c, k, file, dflt);
    const count = (k: string, dflt?: number) => requireCount(c, k, file, dflt);
    const hidden = count('n_embd');
    const heads = count('n_head');
    if (hidden % heads) throw new InputError(file, `n_embd ${hidden} is not a multiple of n_head ${heads}`);
    const act = String(c.activation_function ?? 'gelu_new');
    const activation = ({ gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' } as const)[act];
    if (!activation) throw new InputError(file, `unsupported activation_function '${act}' (gelu_new, gelu, relu)`);
    return {
      arch: 'gpt2', vocabSize: count('vocab_size'), hiddenSize: hidden, numLayers: count('n_layer'), numHeads: heads, numKvHeads: heads,
      headDim: hidden / heads, intermediateSize: c.n_inner == null ? 4 * hidden : count('n_inner'),
      maxPositions: count('n_positions', 1024), norm: 'layernorm', normEps: num('layer_norm_epsilon', 1e-5), activation,
      positions: 'learned', tieWordEmbeddings: c.tie_word_embeddings !== false, qkvBias: true, oBias: true, mlpBias: true,
      bosTokenId: c.bos_token_id as number | undefined, eosTokenId: c.eos_token_id as number | undefined,
    };
  },
  tensors(cfg) {
    const E = cfg.hiddenSize, I = cfg.intermediateSize, out: CheckpointTensor[] = [];
    const normal = (std: number): Init => ({ kind: 'normal', std });
    // GPT2PreTrainedModel._init_weights: residual projections get std 0.02/sqrt(2·n_layer).
    const proj = normal(0.02 / Math.sqrt(2 * cfg.numLayers));
    out.push({ name: `${P}wte.weight`, shape: [cfg.vocabSize, E], init: normal(0.02), role: { at: 'embed' }, from: 'vocab_size × n_embd' });
    out.push({ name: `${P}wpe.weight`, shape: [cfg.maxPositions, E], init: normal(0.02), role: { at: 'positions' }, from: 'n_positions × n_embd' });
    for (let i = 0; i < cfg.numLayers; i++) {
      const h = `${P}h.${i}`;
      // Conv1D: weight [in, out], used as is.
      const conv = (n: string, a: number, b: number, init: Init, slot: 'qkv' | 'o' | 'up' | 'down') => out.push(
        { name: `${h}.${n}.weight`, shape: [a, b], init, role: { at: 'layer', layer: i, slot, part: 'weight' }, from: 'n_embd / n_inner' },
        { name: `${h}.${n}.bias`, shape: [b], init: { kind: 'zeros' }, role: { at: 'layer', layer: i, slot, part: 'bias' } },
      );
      out.push(...normTensors(`${h}.ln_1`, E, { layer: i, slot: 'norm1' }, { bias: true }));
      conv('attn.c_attn', E, 3 * E, normal(0.02), 'qkv'); conv('attn.c_proj', E, E, proj, 'o');
      out.push(...normTensors(`${h}.ln_2`, E, { layer: i, slot: 'norm2' }, { bias: true }));
      conv('mlp.c_fc', E, I, normal(0.02), 'up'); conv('mlp.c_proj', I, E, proj, 'down');
    }
    out.push(...normTensors(`${P}ln_f`, E, 'final', { bias: true }));
    if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, E], init: normal(0.02), role: { at: 'lmHead' }, transform: 'transpose' });
    return out;
  },
  // GPT2Model checkpoints save the same tensors without the `transformer.` prefix.
  aliases: (name) => (name.startsWith(P) ? [name.slice(P.length)] : []),
  presets: {
    'gpt2-tiny': { summary: '2 layers, hidden 64 (for tests)', config: preset(2, 64, 4, 256) },
    gpt2: { summary: 'GPT-2 small, 124M', config: preset(12, 768, 12) },
    'gpt2-medium': { summary: 'GPT-2 medium, 355M', config: preset(24, 1024, 16) },
    'gpt2-large': { summary: 'GPT-2 large, 774M', config: preset(36, 1280, 20) },
    'gpt2-xl': { summary: 'GPT-2 XL, 1.5B', config: preset(48, 1600, 25) },
  },
};
