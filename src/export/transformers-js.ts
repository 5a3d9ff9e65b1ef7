import { withOutputLock } from '../util/lock.js';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedModel } from '../load/index.js';
import type { Model } from '../ir/graph.js';
import { writeModel } from '../onnx/write.js';
import { checkOutFolder, quantlabVersion, type SourceInfo } from '../passes/output.js';
import type { PassReport } from '../passes/pass.js';
import { resolveConfig } from '../passes/quantize.js';
import { methodByKind } from '../passes/registry.js';
import { createSession, ortVersion } from '../runtime/session.js';
import { InputError } from '../util/errors.js';
import { sha256File, writeFileAtomic, writeJsonAtomic } from '../util/fsx.js';
import { modelFileName, type DtypeSpec } from './dtypes.js';
import { graphIo, transformersJsIoProblems, type GraphIo } from './io-check.js';
import { webWarnings } from './web-compat.js';
import '../engine.js'; // registers the passes' engine (passes/engine.ts)

export const EXPORT_INDEX = 'quantlab_export.json';

/** Tokenizer and generation files copied from the source folder when present. */
const SIDE_FILES = [
  'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'vocab.json', 'merges.txt', 'tokenizer.model', 'added_tokens.json', 'chat_template.jinja',
];

// Below protobuf's 2 GiB limit with room for the graph itself.
const EXTERNAL_AUTO_BYTES = 1.8 * 2 ** 30;

export interface ExportOptions {
  model: LoadedModel;
  out: string;
  dtypes: DtypeSpec[];
  /** 'auto': weights go to onnx/model*.onnx_data only when the file would pass protobuf's limit; 'always': every variant. */
  externalData?: 'auto' | 'always';
  /** Per-weight explanations from the passes. */
  explain?: (message: string) => void;
}

export interface VariantStep { method: Record<string, unknown>; report: { converted: number; skipped: number; notes: string[] } }

/** How one file was made: written next to it as onnx/model{suffix}.quantlab.json. */
export interface VariantRecord {
  schema: 'quantlab.tjs-variant/1';
  quantlab_version: string;
  onnxruntime_node: string;
  created: string;
  dtype: string;
  file: string;
  external_data: string | null;
  sha256: string;
  bytes: number;
  source: { path: string; hash: string };
  steps: VariantStep[];
  io: GraphIo;
  /** Empty when onnxruntime-web (WASM) is expected to run the file. */
  web_warnings: string[];
  pass_ms: number;
}

export type VariantResult =
  | { dtype: string; file: string; status: 'written'; record: VariantRecord }
  | { dtype: string; file: string; status: 'unavailable' | 'failed'; reason: string };

export interface ExportResult { out: string; variants: VariantResult[]; warnings: string[] }

/** Export into `opts.out` (a second run on the same folder is refused while this one holds it). */
export function exportTransformersJs(opts: ExportOptions): Promise<ExportResult> {
  return withOutputLock(opts.out, 'export', () => exportUnlocked(opts));
}

/**
 * Write a folder that transformers.js v4 loads with `from_pretrained(folder, { dtype })`:
 * config.json (+ transformers.js_config), generation_config.json, tokenizer files and one
 * onnx/model{suffix}.onnx per dtype, each made from the FP32 KV-cache graph by registered methods.
 * A dtype whose method is not registered is reported as unavailable, never approximated.
 */
async function exportUnlocked(opts: ExportOptions): Promise<ExportResult> {
  const { model, out } = opts;
  if (model.kind !== 'safetensors' || !model.config) throw new InputError(model.source, 'export needs a Hugging Face checkpoint folder (config.json + model.safetensors)');
  const cfg = model.config;
  const source: SourceInfo = { dir: model.source, files: model.files, hash: model.hash };
  checkOutFolder(out, source);
  prepareOutFolder(out);

  const warnings: string[] = [];
  const variants: VariantResult[] = [];
  const base = model.graph({ kvCache: true });
  const externalFiles: Record<string, number> = {};
  for (const spec of opts.dtypes) {
    const file = `onnx/${modelFileName(spec)}`;
    const missing = spec.steps.map((s) => s.kind).filter((k) => !methodByKind(k));
    if (missing.length) {
      variants.push({ dtype: spec.dtype, file, status: 'unavailable', reason: `method ${missing.join(', ')} is not registered in this quantlab build` });
      continue;
    }
    let built: { model: Model; steps: VariantStep[]; ms: number };
    try {
      built = await buildVariant(base, spec, model.tokenizer, opts.explain);
    } catch (e) {
      variants.push({ dtype: spec.dtype, file, status: 'failed', reason: (e as Error).message });
      continue;
    }
    const loadError = await sessionError(built.model);
    if (loadError) {
      variants.push({ dtype: spec.dtype, file, status: 'failed', reason: `onnxruntime-node cannot load the graph the methods produced: ${loadError}` });
      continue;
    }
    const problems = transformersJsIoProblems(built.model, cfg);
    if (problems.length) {
      variants.push({ dtype: spec.dtype, file, status: 'failed', reason: `graph I/O does not match transformers.js: ${problems.join('; ')}` });
      continue;
    }
    const record = writeVariant(out, spec, built, source, opts.externalData ?? 'auto');
    if (record.external_data) externalFiles[modelFileName(spec)] = 1;
    for (const w of record.web_warnings) warnings.push(`${spec.dtype}: onnxruntime-web (WASM) cannot run ${file}: ${w}`);
    variants.push({ dtype: spec.dtype, file, status: 'written', record });
  }

  const written = variants.filter((v) => v.status === 'written').map((v) => v.dtype);
  writeConfig(model, out, externalFiles, written);
  copySideFiles(model, out, warnings);
  writeJsonAtomic(path.join(out, EXPORT_INDEX), {
    schema: 'quantlab.tjs-export/1',
    complete: true,
    quantlab_version: quantlabVersion(),
    created: new Date().toISOString(),
    source: { path: model.source, hash: model.hash },
    variants: variants.map((v) => (v.status === 'written'
      ? { dtype: v.dtype, file: v.file, status: v.status, record: v.file.replace(/\.onnx$/, '.quantlab.json'), external_data: v.record.external_data }
      : { dtype: v.dtype, file: v.file, status: v.status, reason: v.reason })),
    warnings,
  });
  return { out, variants, warnings };
}

async function buildVariant(base: Model, spec: DtypeSpec, tokenizer: LoadedModel['tokenizer'], explain?: (m: string) => void): Promise<{ model: Model; steps: VariantStep[]; ms: number }> {
  let m = base;
  const steps: VariantStep[] = [];
  const t0 = performance.now();
  for (const step of spec.steps) {
    const config = resolveConfig({ kind: step.kind, ...step.config });
    const method = methodByKind(step.kind)!;
    // Calibrating methods (static-int8) also read the tokenizer from the context.
    const ctx = { explain: (msg: string) => explain?.(`${spec.dtype}/${step.kind}: ${msg}`), tokenizer };
    const r = await method.run(m, config, ctx);
    m = r.model;
    steps.push({ method: config as unknown as Record<string, unknown>, report: summary(r.report) });
  }
  return { model: m, steps, ms: performance.now() - t0 };
}

/** Refuse to write a file the runtime cannot load (e.g. a mistyped graph from composing methods). */
async function sessionError(model: Model): Promise<string | null> {
  try {
    const s = await createSession(model, { threads: 1, optimization: 'disabled' });
    await s.release();
    return null;
  } catch (e) { return (e as Error).message.split('\n')[0]; }
}

const summary = (r: PassReport) => ({ converted: r.converted.length, skipped: r.skipped.length, notes: r.notes });

function writeVariant(out: string, spec: DtypeSpec, built: { model: Model; steps: VariantStep[]; ms: number }, source: SourceInfo, ext: 'auto' | 'always'): VariantRecord {
  const name = modelFileName(spec);
  const file = path.join(out, 'onnx', name);
  // transformers.js looks for `${file}_data` (then _data_1, …) when config.json lists the file in use_external_data_format.
  const dataName = `${name}_data`;
  const bytes = built.model.graph.initializerBytes();
  const external = ext === 'always' || bytes > EXTERNAL_AUTO_BYTES;
  const m = built.model;
  const w = writeModel(m, file, external ? { externalData: { location: dataName } } : {});
  const record: VariantRecord = {
    schema: 'quantlab.tjs-variant/1',
    quantlab_version: quantlabVersion(),
    onnxruntime_node: ortVersion(),
    created: new Date().toISOString(),
    dtype: spec.dtype,
    file: `onnx/${name}`,
    external_data: w.externalData ? `onnx/${dataName}` : null,
    sha256: sha256File(file),
    bytes: w.model + w.externalData,
    source: { path: source.dir, hash: source.hash },
    steps: built.steps,
    io: graphIo(m),
    web_warnings: webWarnings(m),
    pass_ms: Math.round(built.ms),
  };
  writeJsonAtomic(file.replace(/\.onnx$/, '.quantlab.json'), record);
  return record;
}

/**
 * An existing --out must be empty or an earlier export (its files are replaced), so a stale
 * variant from another run is never presented as part of this one.
 */
function prepareOutFolder(out: string): void {
  if (!fs.existsSync(out)) { fs.mkdirSync(path.join(out, 'onnx'), { recursive: true }); markIncomplete(out); return; }
  const entries = fs.readdirSync(out);
  if (entries.length && !entries.includes(EXPORT_INDEX)) throw new InputError(out, `--out is not empty and holds no ${EXPORT_INDEX} (not an earlier export); choose a new folder`);
  markIncomplete(out);
  const onnxDir = path.join(out, 'onnx');
  if (fs.existsSync(onnxDir)) {
    for (const f of fs.readdirSync(onnxDir)) if (/^model(_[a-z0-9]+)?\.(onnx|onnx_data(_\d+)?|quantlab\.json)$/.test(f)) fs.rmSync(path.join(onnxDir, f));
  }
  fs.mkdirSync(onnxDir, { recursive: true });
}

/** Marks the folder as an export from the start, so a run that dies half-way can be re-run into it. */
function markIncomplete(out: string): void {
  writeJsonAtomic(path.join(out, EXPORT_INDEX), { schema: 'quantlab.tjs-export/1', complete: false });
}

function writeConfig(model: LoadedModel, out: string, external: Record<string, number>, written: string[]): void {
  const cfg = JSON.parse(fs.readFileSync(path.join(model.source, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tjs: Record<string, unknown> = { ...(cfg['transformers.js_config'] as Record<string, unknown> | undefined) };
  delete tjs.use_external_data_format;
  if (Object.keys(external).length) tjs.use_external_data_format = external;
  // Without fp32 the library's default file (onnx/model.onnx) is absent: default to the first written dtype.
  if (!written.includes('fp32') && written.length) tjs.dtype = written[0];
  else delete tjs.dtype;
  if (Object.keys(tjs).length) cfg['transformers.js_config'] = tjs;
  else delete cfg['transformers.js_config'];
  writeJsonAtomic(path.join(out, 'config.json'), cfg);
}

function copySideFiles(model: LoadedModel, out: string, warnings: string[]): void {
  for (const name of SIDE_FILES) {
    const src = path.join(model.source, name);
    if (fs.existsSync(src)) writeFileAtomic(path.join(out, name), [fs.readFileSync(src)]);
  }
  if (!fs.existsSync(path.join(model.source, 'generation_config.json'))) {
    // transformers.js reads bos/eos/pad ids for generate() from here.
    const c = JSON.parse(fs.readFileSync(path.join(model.source, 'config.json'), 'utf8')) as Record<string, unknown>;
    const gen: Record<string, unknown> = {};
    for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id', 'decoder_start_token_id']) if (c[k] !== undefined && c[k] !== null) gen[k] = c[k];
    writeJsonAtomic(path.join(out, 'generation_config.json'), gen);
  }
  if (!fs.existsSync(path.join(model.source, 'tokenizer.json'))) {
    warnings.push(`no tokenizer.json in ${model.source}: AutoTokenizer and pipeline() will not load this folder (the models still do)`);
  }
}
