/** Which files of a Hugging Face model repo a causal LM needs (pure: works on the listing only). */

/** Config and tokenizer files, downloaded when present. */
const SIDE_FILES = [
  'config.json', 'generation_config.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json',
  'vocab.json', 'merges.txt', 'tokenizer.model',
];

/** ONNX graphs the loader looks for, in its order of preference (see src/load). */
const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx', 'decoder_model.onnx', 'onnx/decoder_model.onnx'];

export type WeightsKind = 'safetensors' | 'safetensors-sharded' | 'onnx';

export interface FileSelection {
  kind: WeightsKind;
  /** Files to fetch now (for sharded safetensors: without the shards, which the index names). */
  files: string[];
}

/**
 * Pick the files to download from a repo listing, or say in one line why there are none.
 * Shards of a sharded checkpoint are chosen after reading the index (see shard-index.ts).
 */
export function selectModelFiles(listing: string[], id: string): FileSelection | string {
  const has = new Set(listing);
  const side = SIDE_FILES.filter((f) => has.has(f));
  if (has.has('model.safetensors')) return { kind: 'safetensors', files: [...side, 'model.safetensors'] };
  if (has.has('model.safetensors.index.json')) return { kind: 'safetensors-sharded', files: [...side, 'model.safetensors.index.json'] };
  const onnx = ONNX_CANDIDATES.find((f) => has.has(f));
  if (onnx) return { kind: 'onnx', files: [...side, onnx, ...externalData(listing, onnx)] };
  if (listing.some((f) => /\.(bin|pt|pth|gguf)$/.test(f))) {
    return `${id} has no model.safetensors or ONNX export (only PyTorch/GGUF weights, which quantlab does not read)`;
  }
  return `${id} has no model.safetensors, model.safetensors.index.json or onnx/model.onnx`;
}

/** External-data files that belong to an ONNX graph: 'x.onnx_data', 'x.onnx.data', 'x.onnx_data_1', ... */
export function externalData(listing: string[], onnx: string): string[] {
  return listing.filter((f) => f !== onnx && f.startsWith(onnx) && /^(_data|\.data)(_\d+)?$/.test(f.slice(onnx.length))).sort();
}

/** Match a requested file name or a simple '*' glob against the listing. */
export function matchFiles(listing: string[], patterns: string[]): string[] {
  const out = new Set<string>();
  for (const p of patterns) {
    if (!p.includes('*')) { if (listing.includes(p)) out.add(p); continue; }
    const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    for (const f of listing) if (re.test(f)) out.add(f);
  }
  return [...out];
}
