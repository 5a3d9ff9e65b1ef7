import path from 'node:path';
import { InputError } from '../util/errors.js';

/** A sharded checkpoint's `model.safetensors.index.json`: which shard holds each tensor. */
export interface ShardIndex {
  weightMap: Map<string, string>;
  /** The shard file names, sorted and unique. */
  shards: string[];
}

/**
 * Parse an index's text (`file` names it in errors): an object whose `weight_map` maps tensor names
 * to shard file names inside the model folder. The one index parser (loading and downloading).
 */
export function parseShardIndex(text: string, file: string): ShardIndex {
  let json: unknown;
  try { json = JSON.parse(text); } catch { throw new InputError(file, 'not valid JSON'); }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (!wm || typeof wm !== 'object' || Array.isArray(wm)) throw new InputError(file, 'not a safetensors index (no weight_map object)');
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || !shard) throw new InputError(file, `weight_map['${name}'] is not a file name`);
    const norm = path.posix.normalize(shard.replaceAll('\\', '/'));
    if (path.posix.isAbsolute(norm) || norm === '.' || norm.startsWith('../') || norm === '..' || shard.includes('\0')) throw new InputError(file, `shard '${shard}' points outside the model folder`);
    weightMap.set(name, shard);
  }
  if (!weightMap.size) throw new InputError(file, 'weight_map lists no tensors');
  return { weightMap, shards: [...new Set(weightMap.values())].sort() };
}
