/** Architecture-neutral description of a decoder-only transformer, filled from a HF config.json. */
export interface DecoderConfig {
  arch: 'gpt2' | 'llama';
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
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  attentionBias?: boolean;
  mlpBias?: boolean;
}

/** One linear layer as the graph uses it: weight in [in, out] (MatMul B) layout. */
export interface Linear { name: string; weight: import('../ir/tensor.js').Tensor; bias?: { name: string; tensor: import('../ir/tensor.js').Tensor } }
export interface Norm { weight: { name: string; tensor: import('../ir/tensor.js').Tensor }; bias?: { name: string; tensor: import('../ir/tensor.js').Tensor } }

export interface LayerWeights {
  norm1: Norm;
  norm2: Norm;
  /** GPT-2 keeps q, k, v in one fused matrix. */
  qkv?: Linear;
  q?: Linear; k?: Linear; v?: Linear;
  o: Linear;
  /** Plain MLP: down(act(up(x))); gated: down(act(gate(x)) * up(x)). */
  up: Linear;
  gate?: Linear;
  down: Linear;
}

export interface DecoderWeights {
  tokenEmbedding: { name: string; tensor: import('../ir/tensor.js').Tensor };
  positionEmbedding?: { name: string; tensor: import('../ir/tensor.js').Tensor };
  layers: LayerWeights[];
  finalNorm: Norm;
  /** Absent when tied to the token embedding. */
  lmHead?: Linear;
}
