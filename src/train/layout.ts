import type { DecoderConfig } from '../arch/config.js';
import { Tensor } from '../ir/tensor.js';

/**
 * Whether the graph holds `name` transposed relative to the Hugging Face checkpoint: the loaders
 * store nn.Linear weights [out, in] as [in, out] (Llama projections, any lm_head); GPT-2's Conv1D
 * weights and every embedding are stored as is.
 */
export function transposedInGraph(cfg: DecoderConfig, name: string, t: Tensor): boolean {
  if (t.dims.length !== 2 || name.endsWith('embed_tokens.weight') || name.endsWith('wte.weight') || name.endsWith('wpe.weight')) return false;
  return name === 'lm_head.weight' || cfg.arch === 'llama';
}

export function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.dims;
  const src = t.data as Float32Array;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
  return new Tensor('float32', [c, r], out);
}
