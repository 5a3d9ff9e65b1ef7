import type { Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import type { DecoderConfig, DecoderWeights } from './config.js';
import { buildDecoder, type GraphForm } from './decoder.js';
import { gpt2Config, gpt2Weights } from './gpt2.js';
import { llamaConfig, llamaWeights } from './llama.js';
import { WeightSource } from './weights.js';

export type { DecoderConfig } from './config.js';
export type { GraphForm } from './decoder.js';

interface Architecture {
  config(c: Record<string, unknown>, file: string): DecoderConfig;
  weights(cfg: DecoderConfig, src: WeightSource): DecoderWeights;
}

/** One row per supported architecture, keyed by HF `model_type`. */
const ARCHITECTURES: Record<string, Architecture> = {
  gpt2: { config: gpt2Config, weights: gpt2Weights },
  llama: { config: llamaConfig, weights: llamaWeights },
};

export const supportedArchitectures = (): string[] => Object.keys(ARCHITECTURES);

export function decoderConfig(c: Record<string, unknown>, file: string): DecoderConfig {
  const type = String(c.model_type ?? '');
  const arch = ARCHITECTURES[type];
  if (!arch) throw new InputError(file, `unknown architecture model_type '${type}' (supported: ${supportedArchitectures().join(', ')})`);
  return arch.config(c, file);
}

/** Build both graph forms' builder from checkpoint tensors. */
export function decoderBuilder(cfg: DecoderConfig, tensors: Map<string, Tensor>, file: string): (form: GraphForm) => Model {
  const weights = ARCHITECTURES[cfg.arch].weights(cfg, new WeightSource(tensors, file));
  return (form) => buildDecoder(cfg, weights, form);
}
