import fs from 'node:fs';
import { formatInspect, inspectModel } from '../eval/inspect.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { writeJsonTo } from '../util/fsx.js';
import { UsageError } from '../util/errors.js';
import type { Command } from './command.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'graph structure, operators and size breakdown of a model',
  usage: 'quantlab inspect (<folder|onnx|hub-id> | --model <…>) [--json out.json|-]',
  positionals: 1,
  options: {
    model: { type: 'string', description: 'the model (as every other command takes it; or give it as the argument)', valueName: 'path|id' },
    json: { type: 'string', description: 'also write the report as JSON here (- for stdout)', valueName: 'file' },
  },
  async run(v, positionals) {
    const spec = positionals[0] ?? (typeof v.model === 'string' ? v.model : undefined);
    if (!spec) throw new UsageError('a model folder or .onnx file is required');
    if (positionals[0] && v.model) throw new UsageError('give the model once: as the argument or with --model');
    const model = loadModel(await resolveModelSpec(spec));
    // HF folders are built in the KV-cache form that `eval` times; ONNX files have one graph.
    // Lazy weights: the graph is built from the checkpoint's headers, no weight is read.
    const graph = model.graph({ kvCache: true });
    // Hashing reads every byte: done for files up to 1 GB, left to eval/quantize beyond.
    const bytes = model.files.reduce((n, f) => n + fs.statSync(f).size, 0);
    const hash = model.kind === 'onnx' || bytes <= 1e9 ? model.hash : null;
    const report = inspectModel(graph, model.files);
    const head = [
      `model       ${model.source} (${model.kind}${model.config ? `, ${model.config.arch}` : ''})`,
      `files       ${model.files.join(', ')}`,
      `hash        ${hash ?? `not computed (${(bytes / 1e9).toFixed(1)} GB: inspect reads headers only; eval and quantize record it)`}`,
    ];
    if (model.kind === 'safetensors') head.push('graph       built in float32 with KV cache from the headers (sizes below are of this graph; "on disk" is the checkpoint)');
    console.log(formatInspect(report, head));
    if (typeof v.json === 'string') {
      writeJsonTo(v.json, { ...report, model: { source: model.source, kind: model.kind, hash, files: model.files, arch: model.config?.arch } });
    }
    return 0;
  },
};
