import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../ir/graph.js';
import type { LoadedModel } from '../load/index.js';
import { readModel } from '../onnx/read.js';
import { writeQuantizedFolder, type QuantizedRecord } from '../passes/output.js';
import { emptyReport, type MethodConfig } from '../passes/pass.js';
import { quantizeToFolder, resolveConfig, sourceInfo } from '../passes/quantize.js';
import { methodByKind, METHODS } from '../passes/registry.js';
import { UsageError } from '../util/errors.js';

export const BASELINE = 'fp32';

/** A method's output, on disk under <out>/variants/<method>/ and in memory. */
export interface Variant {
  method: string;
  config: MethodConfig;
  summary: string;
  dir: string;
  /** The ONNX file (and external data, if any). */
  files: string[];
  model: Model;
  record: QuantizedRecord;
  cached: boolean;
  /** Seconds the pass took (from the record when reused). */
  quantizeS: number | null;
}

/** fp32 plus every registered method, in registry order. */
export const defaultMethods = (): string[] => [BASELINE, ...METHODS.map((m) => m.kind)];

/** Check method names before any work; fp32 always comes first (it is the reference). */
export function parseMethods(list: string[]): string[] {
  const known = defaultMethods();
  for (const m of list) if (!known.includes(m)) throw new UsageError(`unknown method '${m}' (known: ${known.join(', ')})`);
  return [BASELINE, ...new Set(list.filter((m) => m !== BASELINE))];
}

function configOf(method: string): MethodConfig {
  return method === BASELINE ? { kind: BASELINE } : resolveConfig({ kind: method });
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** A finished variant folder for this source and config (quantlab.json is written last), or null. */
function cachedRecord(dir: string, model: LoadedModel, config: MethodConfig): QuantizedRecord | null {
  const file = path.join(dir, 'quantlab.json');
  if (!fs.existsSync(file)) return null;
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as QuantizedRecord;
    if (r.source?.hash !== model.hash || !sameJson(r.method, config)) return null;
    return fs.existsSync(path.join(dir, r.model.file)) ? r : null;
  } catch { return null; }
}

function filesOf(dir: string, r: QuantizedRecord): string[] {
  return Object.keys(r.model.files).filter((f) => f.startsWith('onnx/')).map((f) => path.join(dir, f));
}

/**
 * The variant for `method`: reused from <variantsDir>/<method>/ when a finished folder for the same
 * source and config is there, else quantized (FP32: the KV-cache graph as built) and written.
 */
export async function prepareVariant(model: LoadedModel, method: string, variantsDir: string, explain: (m: string) => void = () => {}): Promise<Variant> {
  const config = configOf(method);
  const summary = method === BASELINE ? 'unquantized FP32 baseline (the KV-cache graph as built)' : methodByKind(method)!.summary;
  const dir = path.join(variantsDir, method);
  const hit = cachedRecord(dir, model, config);
  if (hit) {
    const timing = hit.timing as { pass_ms?: number } | undefined;
    return { method, config, summary, dir, files: filesOf(dir, hit), model: readModel(path.join(dir, hit.model.file)), record: hit, cached: true, quantizeS: timing?.pass_ms !== undefined ? timing.pass_ms / 1000 : null };
  }
  if (method === BASELINE) {
    const graph = model.graph({ kvCache: true });
    const record = writeQuantizedFolder({ source: sourceInfo(model), model: graph, out: dir, method: config, report: emptyReport() });
    return { method, config, summary, dir, files: filesOf(dir, record), model: graph, record, cached: false, quantizeS: null };
  }
  const r = await quantizeToFolder({ model, config: config as MethodConfig & Record<string, unknown>, out: dir, explain });
  return { method, config, summary, dir, files: filesOf(dir, r.record), model: r.result.model, record: r.record, cached: false, quantizeS: r.passMs / 1000 };
}
