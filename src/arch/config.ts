import type { Tensor } from '../ir/tensor.js';

/** Rotary position embedding, as Hugging Face's `rope_scaling` variants compute it. */
export interface RopeConfig {
  theta: number;
  /** Leading dimensions of each head that rotate (head_dim × partial_rotary_factor); the rest pass through. */
  rotaryDim: number;
  scaling?: RopeScaling;
}

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number; originalMax: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMax: number }
  /** Phi-3 `longrope`/`su`: per-frequency factors, long ones past `originalMax` tokens; cos/sin scaled by `attentionFactor`. */
  | { type: 'longrope'; short: number[]; long: number[]; originalMax: number; attentionFactor: number };

export type LayerType = 'full' | 'sliding';

/** Architecture-neutral description of a decoder-only transformer, filled from a HF config.json. */
export interface DecoderConfig {
  /** The HF `model_type` (the family file that parsed it). */
  arch: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  norm: 'layernorm' | 'rmsnorm';
  normEps: number;
  activation: 'gelu_new' | 'gelu' | 'silu' | 'relu';
  positions: 'learned' | 'rope';
  /** RoPE of full-attention layers (all layers unless `localRope` is set). */
  rope?: RopeConfig;
  /** RoPE of sliding-window layers when it differs (Gemma 3's `rope_local_base_freq`). */
  localRope?: RopeConfig;
  /** Attention window of 'sliding' layers: a token sees itself and the window − 1 before it. */
  slidingWindow?: number;
  /** Per layer; absent means every layer is 'full'. */
  layerTypes?: LayerType[];
  /** Per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3). */
  qkNorm?: boolean;
  /** Norms on the attention and MLP outputs before each residual add (Gemma 2/3). */
  sandwichNorms?: boolean;
  /** Token embeddings multiplied by this (Gemma: √hidden). */
  embeddingScale?: number;
  /** Attention score scale; default 1/√headDim (Gemma 3: query_pre_attn_scalar^-½). */
  attentionScale?: number;
  /** logits = cap·tanh(logits/cap) (Gemma's final_logit_softcapping). */
  finalLogitSoftcap?: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  /** Biases on q, k and v. */
  qkvBias?: boolean;
  /** Bias on the attention output projection. */
  oBias?: boolean;
  mlpBias?: boolean;
}

type Named = { name: string; tensor: Tensor };
/** One linear layer as the graph uses it: weight in [in, out] (MatMul B) layout. */
export interface Linear { name: string; weight: Tensor; bias?: Named }
export interface Norm { weight: Named; bias?: Named }

export interface LayerWeights {
  norm1: Norm;
  norm2: Norm;
  /** GPT-2 and Phi-3 keep q, k, v in one fused matrix. */
  qkv?: Linear;
  q?: Linear; k?: Linear; v?: Linear;
  qNorm?: Norm; kNorm?: Norm;
  o: Linear;
  postAttnNorm?: Norm;
  postMlpNorm?: Norm;
  /** Plain MLP: down(act(up(x))); gated: down(act(gate(x)) * up(x)). */
  up?: Linear;
  gate?: Linear;
  /** Phi-3's fused [gate | up] projection. */
  gateUp?: Linear;
  down: Linear;
}

export interface DecoderWeights {
  tokenEmbedding: Named;
  positionEmbedding?: Named;
  layers: LayerWeights[];
  finalNorm: Norm;
  /** Absent when tied to the token embedding. */
  lmHead?: Linear;
}
