import { InputError } from '../util/errors.js';
import type { DecoderConfig, DecoderWeights, Linear, Norm } from './config.js';
import { requireNumber, WeightSource } from './weights.js';

/** LlamaForCausalLM config.json → DecoderConfig. */
export function llamaConfig(c: Record<string, unknown>, file: string): DecoderConfig {
  const num = (k: string, dflt?: number) => requireNumber(c, k, file, dflt);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) throw new InputError(file, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const act = String(c.hidden_act ?? 'silu');
  if (act !== 'silu') throw new InputError(file, `unsupported hidden_act '${act}' (silu)`);
  if (c.rope_scaling != null) throw new InputError(file, `rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported yet`);
  const headDim = typeof c.head_dim === 'number' ? c.head_dim : hidden / heads;
  return {
    arch: 'llama', vocabSize: num('vocab_size'), hiddenSize: hidden, numLayers: num('num_hidden_layers'), numHeads: heads,
    numKvHeads: kvHeads, headDim, intermediateSize: num('intermediate_size'), maxPositions: num('max_position_embeddings', 2048),
    norm: 'rmsnorm', normEps: num('rms_norm_eps', 1e-6), activation: 'silu', positions: 'rope', ropeTheta: num('rope_theta', 10000),
    tieWordEmbeddings: c.tie_word_embeddings === true,
    bosTokenId: c.bos_token_id as number | undefined, eosTokenId: c.eos_token_id as number | undefined,
    attentionBias: c.attention_bias === true, mlpBias: c.mlp_bias === true,
  };
}

/** Map Llama parameters (nn.Linear weights are [out, in]; transposed to [in, out]). */
export function llamaWeights(cfg: DecoderConfig, src: WeightSource): DecoderWeights {
  const E = cfg.hiddenSize, D = cfg.headDim, I = cfg.intermediateSize;
  const lin = (n: string, i: number, o: number, bias: boolean): Linear => ({
    name: `${n}.weight`, weight: src.getTransposed(`${n}.weight`, [o, i]),
    bias: bias ? { name: `${n}.bias`, tensor: src.get(`${n}.bias`, [o]) } : undefined,
  });
  const norm = (n: string): Norm => ({ weight: { name: `${n}.weight`, tensor: src.get(`${n}.weight`, [E]) } });
  const w: DecoderWeights = {
    tokenEmbedding: { name: 'model.embed_tokens.weight', tensor: src.get('model.embed_tokens.weight', [cfg.vocabSize, E]) },
    layers: Array.from({ length: cfg.numLayers }, (_, i) => {
      const p = `model.layers.${i}`;
      const ab = cfg.attentionBias === true, mb = cfg.mlpBias === true;
      return {
        norm1: norm(`${p}.input_layernorm`), norm2: norm(`${p}.post_attention_layernorm`),
        q: lin(`${p}.self_attn.q_proj`, E, cfg.numHeads * D, ab), k: lin(`${p}.self_attn.k_proj`, E, cfg.numKvHeads * D, ab),
        v: lin(`${p}.self_attn.v_proj`, E, cfg.numKvHeads * D, ab), o: lin(`${p}.self_attn.o_proj`, cfg.numHeads * D, E, ab),
        gate: lin(`${p}.mlp.gate_proj`, E, I, mb), up: lin(`${p}.mlp.up_proj`, E, I, mb), down: lin(`${p}.mlp.down_proj`, I, E, mb),
      };
    }),
    finalNorm: norm('model.norm'),
  };
  if (!cfg.tieWordEmbeddings) {
    w.lmHead = { name: 'lm_head.weight', weight: src.getTransposed('lm_head.weight', [cfg.vocabSize, E]) };
  }
  return w;
}
