import { parameterTable, SYNTH_PRESETS, synthesize, synthPreset, type SynthDtype } from '../arch/synth.js';
import { writeJsonTo } from '../util/fsx.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import type { Command } from './command.js';
import { requireString } from './options.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

export const synthCommand: Command = {
  name: 'synth',
  summary: 'write a random-weight HF model folder with the exact shapes of a real model',
  usage: 'quantlab synth --preset <name> (--out <folder> | --dry-run) [--arch <model_type>] [--seed N] [--dtype f32|f16|bf16] [--max-shard-size 2GB] [--force] [--json <file>]',
  options: {
    arch: { type: 'string', description: 'the preset\'s model_type (optional: the preset implies it)', valueName: 'model_type' },
    preset: { type: 'string', description: `shape preset (${Object.keys(SYNTH_PRESETS).join(', ')})`, valueName: 'name' },
    out: { type: 'string', description: 'output folder', valueName: 'folder' },
    seed: { type: 'string', description: 'random seed', default: '0', valueName: 'N' },
    dtype: { type: 'string', description: 'stored weight type: f32, f16 or bf16', default: 'f32', valueName: 'type' },
    'max-shard-size': { type: 'string', description: 'split weights into shards above this size (e.g. 2GB, 500MB, bytes)', default: '2GB', valueName: 'size' },
    force: { type: 'boolean', description: 'replace an existing model.safetensors in the output folder' },
    'dry-run': { type: 'boolean', description: 'print the config and parameter count; write no weights' },
    json: { type: 'string', description: 'also write the summary (config, param_count, bytes) as JSON (- for stdout)', valueName: 'file' },
  },
  async run(v) {
    const seed = Number(v.seed ?? 0);
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got '${v.seed}'`);
    const arch = typeof v.arch === 'string' ? v.arch : undefined;
    const name = requireString(v.preset, 'preset');
    const preset = synthPreset(arch, name);
    const table = parameterTable(preset);
    const summary = { preset: name, model_type: preset.arch, summary: preset.summary, config: preset.config, param_count: table.paramCount, fp32_bytes: table.fp32Bytes };
    if (v['dry-run'] === true) {
      console.log(JSON.stringify(preset.config, null, 2));
      console.log(`preset      ${name} (${preset.arch}): ${preset.summary}`);
      console.log(`parameters  ${fmt(table.paramCount)}`);
      console.log(`FP32 bytes  ${fmt(table.fp32Bytes)}`);
      if (typeof v.json === 'string') writeJsonTo(v.json, summary);
      return 0;
    }
    const bar = new Progress('synth', 1);
    const r = synthesize({
      arch, preset: name, out: requireString(v.out, 'out'),
      seed, dtype: String(v.dtype ?? 'f32') as SynthDtype, force: v.force === true, maxShardBytes: parseSize(String(v['max-shard-size'] ?? '2GB')),
      onProgress: (d, t) => bar.update(d, t),
    });
    bar.done();
    console.log(`wrote       ${r.folder} (RANDOM WEIGHTS, seed ${seed})`);
    console.log(`parameters  ${fmt(r.paramCount)}`);
    console.log(`FP32 bytes  ${fmt(r.fp32Bytes)}`);
    if (r.paramBytes !== r.fp32Bytes) console.log(`${`${String(v.dtype).toUpperCase()} bytes`.padEnd(12)}${fmt(r.paramBytes)}`);
    console.log(`safetensors ${fmt(r.safetensorsBytes)} bytes in ${r.shards} file${r.shards > 1 ? 's' : ''}, written in ${r.seconds.toFixed(1)} s`);
    if (typeof v.json === 'string') writeJsonTo(v.json, { ...summary, folder: r.folder, dtype: v.dtype ?? 'f32', safetensors_bytes: r.safetensorsBytes, shards: r.shards });
    return 0;
  },
};

/** '2GB', '500MB', '64KB' (decimal units, as Hugging Face's max_shard_size) or plain bytes. */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(GB|MB|KB|B)?$/i.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`--max-shard-size must be a size like 2GB, 500MB or a byte count, got '${v}'`);
  const unit = { gb: 1e9, mb: 1e6, kb: 1e3, b: 1 }[(m[2] ?? 'b').toLowerCase() as 'gb' | 'mb' | 'kb' | 'b'];
  return Math.floor(Number(m[1]) * unit);
}
