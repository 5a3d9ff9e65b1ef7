import type { Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import type { DecoderConfig } from './config.js';
import { buildDecoder, type GraphForm } from './decoder.js';
import { loadWeights, toCheckpointLayout, type CheckpointTensor, type Family } from './family.js';
import { FAMILIES } from './families/index.js';

export type { DecoderConfig } from './config.js';
export type { GraphForm } from './decoder.js';

const BY_TYPE = new Map<string, Family>(FAMILIES.flatMap((f) => f.modelTypes.map((t) => [t, f] as const)));

export const supportedArchitectures = (): string[] => [...BY_TYPE.keys()];

/** The family file for a HF `model_type`. */
export function familyOf(modelType: string, file = 'config.json'): Family {
  const f = BY_TYPE.get(modelType);
  if (!f) throw new InputError(file, `unsupported model_type '${modelType}' (supported: ${supportedArchitectures().join(', ')})`);
  return f;
}

export function decoderConfig(c: Record<string, unknown>, file: string): DecoderConfig {
  return familyOf(String(c.model_type ?? ''), file).config(c, file);
}

/** Build both graph forms' builder from checkpoint tensors. */
export function decoderBuilder(cfg: DecoderConfig, tensors: Map<string, Tensor>, file: string): (form: GraphForm) => Model {
  const weights = loadWeights(familyOf(cfg.arch, file), cfg, tensors, file);
  return (form) => buildDecoder(cfg, weights, form);
}

/**
 * Graph initializers back in their checkpoint's layout (the training checkpoint writer): the
 * family's tensor table says which weights the graph holds transposed or as 1 + w.
 */
export function checkpointLayout(cfg: DecoderConfig): (name: string, t: Tensor) => Tensor {
  const f = familyOf(cfg.arch);
  const transforms = new Map<string, CheckpointTensor['transform']>();
  for (const s of f.tensors(cfg)) for (const n of [s.name, ...(f.aliases?.(s.name) ?? [])]) transforms.set(n, s.transform);
  // A tied model trained with a separate head (loadWeights adds it) stores it transposed.
  if (!transforms.has('lm_head.weight')) transforms.set('lm_head.weight', 'transpose');
  return (name, t) => toCheckpointLayout(t, transforms.get(name));
}
