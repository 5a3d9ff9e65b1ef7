import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../ir/graph.js';
import { writeModel } from '../onnx/write.js';
import { InputError } from '../util/errors.js';
import { sha256File, writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import type { MethodConfig, PassReport } from './pass.js';

/** Where the quantized model came from. */
export interface SourceInfo {
  /** Folder holding config.json / tokenizer files (the model folder). */
  dir: string;
  /** Files that make up the source model (never overwritten, never inside --out). */
  files: string[];
  /** Identity of the source weights, e.g. "model.safetensors sha256:…". */
  hash: string;
}

export interface WriteQuantizedOptions {
  source: SourceInfo;
  model: Model;
  out: string;
  method: MethodConfig;
  report: PassReport;
  /** Initializer bytes above which weights go to onnx/model.onnx_data (default 1 GiB). */
  externalDataThreshold?: number;
  /** Extra fields for quantlab.json (e.g. timings). */
  extra?: Record<string, unknown>;
}

export interface QuantizedRecord {
  schema: 'quantlab.quantized/1';
  quantlab_version: string;
  /** Hash of the quantlab code that wrote it (`quantlabCode`): a cached variant is reused only by the same code. */
  quantlab_code?: string;
  created: string;
  method: MethodConfig;
  source: { path: string; hash: string };
  model: { file: string; sha256: string; files: Record<string, number> };
  report: PassReport;
  [k: string]: unknown;
}

/** Files copied from the source folder when present: what `loadModel` and tokenizers read. */
const SIDE_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'vocab.json', 'merges.txt', 'tokenizer.model', 'added_tokens.json',
];
export const MODEL_FILE = 'onnx/model.onnx';
const DATA_FILE = 'model.onnx_data'; // Optimum / transformers.js naming

export function quantlabVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch { return 'unknown'; }
}

let codeHash: string | null = null;

/**
 * SHA-256 (16 hex digits) of this installation's built code (every .js file under dist/, by path
 * and content): two builds that could quantize the same config differently never share it, while
 * the version number stays 0.1.0 between commits.
 */
export function quantlabCode(): string {
  if (codeHash) return codeHash;
  const root = fileURLToPath(new URL('..', import.meta.url));
  const h = crypto.createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && !e.name.endsWith('.test.js')) h.update(path.relative(root, p)).update('\0').update(fs.readFileSync(p)).update('\0');
    }
  };
  walk(root);
  return (codeHash = h.digest('hex').slice(0, 16));
}

const inside = (dir: string, file: string): boolean => {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** Refuse an output folder that is, or holds, the input model (checked before any work is done). */
export function checkOutFolder(out: string, source: SourceInfo): void {
  const o = path.resolve(out);
  if (o === path.resolve(source.dir)) throw new InputError(out, '--out is the input model folder; choose a new folder');
  for (const f of source.files) {
    if (inside(o, path.resolve(f))) throw new InputError(out, `--out contains the input model file ${f}; choose a new folder`);
  }
  if (fs.existsSync(o)) {
    if (!fs.statSync(o).isDirectory()) throw new InputError(out, '--out exists and is not a folder');
    // loadModel prefers safetensors over onnx/: a stale checkpoint there would shadow the quantized model.
    for (const f of ['model.safetensors', 'model.safetensors.index.json']) {
      if (fs.existsSync(path.join(o, f))) throw new InputError(out, `--out already holds ${f}, which would shadow the quantized model`);
    }
  }
}

/**
 * Write a loadable quantized model folder: onnx/model.onnx (+ onnx/model.onnx_data when large),
 * the source's config and tokenizer files, and quantlab.json (written last, so its presence marks a complete folder).
 */
export function writeQuantizedFolder(opts: WriteQuantizedOptions): QuantizedRecord {
  const { source, out } = opts;
  checkOutFolder(out, source);
  fs.mkdirSync(path.join(out, 'onnx'), { recursive: true });
  fs.rmSync(path.join(out, 'quantlab.json'), { force: true });

  const file = path.join(out, MODEL_FILE);
  const dataFile = path.join(out, 'onnx', DATA_FILE);
  const bytes = opts.model.graph.initializerBytes();
  const external = bytes > (opts.externalDataThreshold ?? 2 ** 30);
  const written = writeModel(opts.model, file, external ? { externalData: { location: DATA_FILE } } : {});
  // A previous, larger run's side file would be counted as part of this model by loadModel.
  if (!written.externalData) fs.rmSync(dataFile, { force: true });

  const files: Record<string, number> = { [MODEL_FILE]: written.model };
  if (written.externalData) files[`onnx/${DATA_FILE}`] = fs.statSync(dataFile).size;
  for (const name of SIDE_FILES) {
    const src = path.join(source.dir, name);
    if (!fs.existsSync(src)) continue;
    let data = fs.readFileSync(src);
    // transformers.js fetches onnx/model.onnx_data only when config.json lists the file as external.
    if (name === 'config.json' && written.externalData) data = Buffer.from(withExternalDataFlag(data, src));
    writeFileAtomic(path.join(out, name), [data]);
    files[name] = data.length;
  }

  const record: QuantizedRecord = {
    schema: 'quantlab.quantized/1',
    quantlab_version: quantlabVersion(),
    quantlab_code: quantlabCode(),
    created: new Date().toISOString(),
    method: opts.method,
    source: { path: source.dir, hash: source.hash },
    model: { file: MODEL_FILE, sha256: sha256File(file), files },
    report: opts.report,
    ...opts.extra,
  };
  writeJsonAtomic(path.join(out, 'quantlab.json'), record);
  return record;
}

/** config.json with `transformers.js_config.use_external_data_format` naming the model file (transformers.js v3/v4). */
function withExternalDataFlag(data: Buffer, file: string): string {
  let c: Record<string, unknown>;
  try { c = JSON.parse(data.toString('utf8')); } catch { throw new InputError(file, 'not valid JSON'); }
  const tjs = (c['transformers.js_config'] ?? {}) as Record<string, unknown>;
  const ext = (tjs.use_external_data_format ?? {}) as Record<string, unknown>;
  c['transformers.js_config'] = { ...tjs, use_external_data_format: { ...ext, [path.basename(MODEL_FILE)]: 1 } };
  return JSON.stringify(c, null, 2) + '\n';
}
