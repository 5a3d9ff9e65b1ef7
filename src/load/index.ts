import { parseShardIndex } from '../hf/shard-index.js';
import fs from 'node:fs';
import path from 'node:path';
import { decoderBuilder, decoderConfig, type DecoderConfig, type GraphForm } from '../arch/index.js';
import { readModelWeights } from '../hf/safetensors.js';
import { loadTokenizer, type TextTokenizer } from '../hf/tokenizer.js';
import type { Model } from '../ir/graph.js';
import { readModel } from '../onnx/read.js';
import { InputError } from '../util/errors.js';
import { sha256File } from '../util/fsx.js';

/** A causal LM ready to run: its graphs, tokenizer and identity. */
export interface LoadedModel {
  /** Folder (or .onnx file) it came from. */
  source: string;
  kind: 'safetensors' | 'onnx';
  config?: DecoderConfig;
  tokenizer?: TextTokenizer;
  /** SHA-256 of the weights file (model.safetensors or the .onnx), prefixed by its name. */
  hash: string;
  /** The graph in the requested form. ONNX exports have a single (usually KV-cache) graph. */
  graph(form: GraphForm): Model;
  /** Files that make up the model on disk (for size accounting). */
  files: string[];
  /** Maximum positions, when known. */
  maxPositions?: number;
}

const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx', 'decoder_model.onnx', 'onnx/decoder_model.onnx'];

export function readConfigJson(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new InputError(dir, 'no config.json in this folder');
  try { return JSON.parse(fs.readFileSync(file, 'utf8')); } catch { throw new InputError(file, 'not valid JSON'); }
}

/** Load a model folder (HF safetensors or ONNX export) or a single .onnx file. */
export function loadModel(spec: string): LoadedModel {
  if (!fs.existsSync(spec)) throw new InputError(spec, 'no such file or folder');
  const stat = fs.statSync(spec);
  if (stat.isFile()) {
    if (!spec.endsWith('.onnx')) throw new InputError(spec, 'expected a model folder or an .onnx file');
    return loadOnnx(spec, path.dirname(path.dirname(path.resolve(spec))));
  }
  const dir = spec;
  const hasSt = fs.existsSync(path.join(dir, 'model.safetensors')) || fs.existsSync(path.join(dir, 'model.safetensors.index.json'));
  if (hasSt) return loadSafetensors(dir);
  for (const c of ONNX_CANDIDATES) if (fs.existsSync(path.join(dir, c))) return loadOnnx(path.join(dir, c), dir);
  throw new InputError(dir, 'no model.safetensors, model.safetensors.index.json or onnx/model.onnx in this folder');
}

function loadSafetensors(dir: string): LoadedModel {
  const cfgJson = readConfigJson(dir);
  const config = decoderConfig(cfgJson, path.join(dir, 'config.json'));
  const single = path.join(dir, 'model.safetensors');
  const files = fs.existsSync(single) ? [single] : shardFiles(dir);
  let build: ((f: GraphForm) => Model) | null = null;
  let hash: string | undefined;
  const cache = new Map<boolean, Model>();
  return {
    source: dir, kind: 'safetensors', config, files, maxPositions: config.maxPositions,
    tokenizer: tryTokenizer(dir),
    // Hashed on first use: reading a multi-GB checkpoint is not needed to open or inspect it.
    get hash() { return (hash ??= `${path.basename(files[0])} sha256:${sha256File(files[0])}`); },
    graph(form) {
      // Errors about tensors name the weights file when there is one (else the sharded folder).
      build ??= decoderBuilder(config, readModelWeights(dir), files.length === 1 ? files[0] : dir);
      let m = cache.get(form.kvCache);
      if (!m) { m = build(form); cache.set(form.kvCache, m); }
      return m;
    },
  };
}

function shardFiles(dir: string): string[] {
  const file = path.join(dir, 'model.safetensors.index.json');
  return parseShardIndex(fs.readFileSync(file, 'utf8'), file).shards.map((f) => path.join(dir, f));
}

function loadOnnx(file: string, dir: string): LoadedModel {
  const model = readModel(file);
  const data = model.graph.initializers().length ? externalFiles(file) : [];
  let config: DecoderConfig | undefined;
  const folder = fs.existsSync(path.join(dir, 'config.json')) ? dir : path.dirname(file);
  if (fs.existsSync(path.join(folder, 'config.json'))) {
    try { config = decoderConfig(readConfigJson(folder), path.join(folder, 'config.json')); } catch { config = undefined; }
  }
  return {
    source: file, kind: 'onnx', config, files: [file, ...data], maxPositions: config?.maxPositions,
    tokenizer: tryTokenizer(folder),
    hash: `${path.basename(file)} sha256:${sha256File(file)}`,
    graph: () => model,
  };
}

function externalFiles(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  return fs.readdirSync(dir).filter((f) => f.startsWith(base) && f !== base && /\.(data|onnx_data)$|_data$/.test(f)).map((f) => path.join(dir, f));
}

function tryTokenizer(dir: string): TextTokenizer | undefined {
  return fs.existsSync(path.join(dir, 'tokenizer.json')) ? loadTokenizer(dir) : undefined;
}

export { resolveModelSpec, type ResolveOptions } from './resolve.js';
