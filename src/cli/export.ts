import { DEFAULT_DTYPES, parseDtypes, TJS_DTYPES } from '../export/dtypes.js';
import { exportTransformersJs } from '../export/transformers-js.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { requireString } from './options.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a model folder that transformers.js (v4) loads, one ONNX file per dtype',
  usage: 'quantlab export --model <folder|hub-id> --format transformers.js [--dtypes fp32,fp16,q8,q4] [--external-data auto|always] [--verbose] --out <folder>',
  options: {
    model: { type: 'string', description: 'Hugging Face checkpoint folder (config.json + model.safetensors) or hub id', valueName: 'path|id' },
    format: { type: 'string', description: 'output format (only transformers.js)', valueName: 'name' },
    dtypes: { type: 'string', description: `comma-separated transformers.js dtypes (${TJS_DTYPES.map((d) => d.dtype).join(', ')}; default ${DEFAULT_DTYPES.join(',')})`, valueName: 'list' },
    'external-data': { type: 'string', description: "'auto': weights in onnx/model*.onnx_data only past protobuf's 2 GiB; 'always': for every file", default: 'auto', valueName: 'mode' },
    out: { type: 'string', description: 'output folder (new, empty, or an earlier export)', valueName: 'folder' },
    verbose: { type: 'boolean', description: 'explain every weight each method skipped or converted' },
  },
  async run(v) {
    const format = requireString(v.format, 'format');
    if (format !== 'transformers.js') throw new UsageError(`unknown --format '${format}' (supported: transformers.js)`);
    const ext = String(v['external-data'] ?? 'auto');
    if (ext !== 'auto' && ext !== 'always') throw new UsageError(`--external-data must be auto or always, got '${ext}'`);
    const dtypes = parseDtypes(v.dtypes as string | undefined);
    const out = requireString(v.out, 'out');
    const model = loadModel(await resolveModelSpec(requireString(v.model, 'model')));
    const r = await exportTransformersJs({ model, out, dtypes, externalData: ext, explain: v.verbose ? (m) => console.error(`  ${m}`) : undefined });
    for (const x of r.variants) {
      const what = x.status === 'written'
        ? `${(x.record.bytes / 2 ** 20).toFixed(1).padStart(7)} MiB  ${x.record.steps.map((s) => s.method.kind).join(' → ') || 'no pass'}${x.record.external_data ? `  (+ ${x.record.external_data})` : ''}`
        : x.reason;
      console.log(`${x.dtype.padEnd(6)} ${x.status.padEnd(11)} ${x.file.padEnd(26)} ${what}`);
    }
    for (const w of r.warnings) console.error(`warning: ${w}`);
    console.log(`wrote       ${out}`);
    // Unavailable methods are expected in a partial build; a method that failed is an error.
    return r.variants.some((x) => x.status === 'failed') ? 1 : 0;
  },
};
