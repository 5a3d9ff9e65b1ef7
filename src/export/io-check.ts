import type { DecoderConfig } from '../arch/index.js';
import type { Model } from '../ir/graph.js';

/** The graph's I/O as transformers.js's decoder_forward feeds and reads it. */
export interface GraphIo {
  inputs: { name: string; dtype: string }[];
  outputs: { name: string; dtype: string }[];
  /** Element type of past_key_values.* (transformers.js makes the empty first-step cache from it). */
  kvDtype: string;
}

export function graphIo(model: Model): GraphIo {
  const g = model.graph;
  const io = (vs: typeof g.inputs) => vs.map((v) => ({ name: v.name, dtype: v.type?.dtype ?? 'unknown' }));
  return { inputs: io(g.inputs), outputs: io(g.outputs), kvDtype: g.inputs.find((v) => v.name.startsWith('past_key_values.'))?.type?.dtype ?? 'none' };
}

/**
 * Problems that would stop transformers.js (v4) from running the graph as a GPT-2/Llama decoder:
 * it feeds exactly input_ids, attention_mask, position_ids (when declared), past_key_values.{i}.key|value,
 * num_logits_to_keep / use_cache_branch only when declared, and reads logits and present.{i}.key|value.
 */
export function transformersJsIoProblems(model: Model, cfg: DecoderConfig): string[] {
  const g = model.graph;
  const problems: string[] = [];
  const inputs = new Map(g.inputs.map((v) => [v.name, v]));
  const outputs = new Map(g.outputs.map((v) => [v.name, v]));
  const want = ['input_ids', 'attention_mask', 'position_ids'];
  for (let i = 0; i < cfg.numLayers; i++) want.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
  for (const n of want) if (!inputs.has(n)) problems.push(`missing input ${n}`);
  const known = new Set([...want, 'num_logits_to_keep', 'use_cache_branch']);
  for (const n of inputs.keys()) if (!known.has(n)) problems.push(`input ${n} is not fed by transformers.js`);
  for (const n of ['input_ids', 'attention_mask', 'position_ids']) {
    const t = inputs.get(n)?.type?.dtype;
    if (t && t !== 'int64') problems.push(`input ${n} is ${t}, transformers.js feeds int64`);
  }
  if (!outputs.has('logits')) problems.push('missing output logits');
  for (let i = 0; i < cfg.numLayers; i++) {
    for (const kv of ['key', 'value']) {
      const past = inputs.get(`past_key_values.${i}.${kv}`);
      const present = outputs.get(`present.${i}.${kv}`);
      if (!present) { problems.push(`missing output present.${i}.${kv}`); continue; }
      // The present tensor is fed back as the next step's past: their element types must agree.
      if (past?.type && present.type && past.type.dtype !== present.type.dtype) {
        problems.push(`present.${i}.${kv} is ${present.type.dtype} but past_key_values.${i}.${kv} is ${past.type.dtype}`);
      }
    }
  }
  return problems;
}
