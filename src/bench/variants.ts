import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../ir/graph.js';
import type { LoadedModel } from '../load/index.js';
import { readModel } from '../onnx/read.js';
import { quantlabCode, quantlabVersion, writeQuantizedFolder, type QuantizedRecord } from '../passes/output.js';
import { emptyReport, type MethodConfig } from '../passes/pass.js';
import { quantizeToFolder, resolveConfig, sourceInfo } from '../passes/quantize.js';
import { methodByKind, METHODS } from '../passes/registry.js';
import { UsageError } from '../util/errors.js';
import { parseBudget } from '../passes/weight-budget.js';
import '../engine.js'; // registers the passes' engine (passes/engine.ts)

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

/** What a bench method may add after a colon, per kind: `+`-joined tokens, each setting config fields. */
const WEIGHT_TOKENS: Record<string, Record<string, unknown>> = {
  rtn: { algorithm: 'rtn' }, imatrix: { importance: true }, gptq: { algorithm: 'gptq' }, 'gptq-act': { algorithm: 'gptq', actOrder: true }, awq: { algorithm: 'awq' },
};
const VARIANT_TOKENS: Record<string, Record<string, Record<string, unknown>>> = {
  'int4-weight': WEIGHT_TOKENS,
  'int8-weight': WEIGHT_TOKENS,
  fp16: { half: { compute: 'half' } },
  'dynamic-int8': { rtn: { algorithm: 'rtn' }, gptq: { algorithm: 'gptq' }, 'per-token': { activationScales: 'token' }, 'full-range': { reduceRange: false } },
};

/**
 * A bench method: a registered kind, or `<kind>:<token>[+<token>…][@<budget>]` (e.g.
 * `int4-weight:gptq`, `int4-weight:gptq@18%`, `dynamic-int8:gptq+per-token`), whose row reads
 * `int4-weight (gptq, ≤ 18%)`. Returns the row label, its folder name and the config, or null.
 */
export function methodSpec(name: string): { label: string; dir: string; config: MethodConfig } | null {
  if (name === BASELINE) return { label: BASELINE, dir: BASELINE, config: { kind: BASELINE } };
  const m = /^([a-z0-9-]+)(?::([a-z+-]+))?(?:@(\S+))?$/.exec(name) ?? /^([a-z0-9-]+) \(([a-z+-]+)(?:, ≤ (\S+))?\)$/.exec(name);
  if (!m || !methodByKind(m[1])) return null;
  const [, kind, variant, budgetText] = m;
  if (!variant && !budgetText) return { label: kind, dir: kind, config: resolveConfig({ kind }) };
  const tokens = VARIANT_TOKENS[kind];
  if (!tokens || (budgetText && !kind.endsWith('-weight'))) return null;
  const words = (variant ?? 'rtn').split('+');
  if (!words.every((w) => tokens[w])) return null;
  const budget = budgetText ? parseBudget(budgetText) : null;
  if (budgetText && !budget) return null;
  const fields = Object.assign({}, ...words.map((w) => tokens[w]), budget ? { budget } : {});
  const label = `${kind} (${words.join('+')}${budgetText ? `, ≤ ${budgetText}` : ''})`;
  const dir = `${kind}-${words.join('-')}${budgetText ? `-${budgetText.replace(/[^a-zA-Z0-9.]/g, '')}` : ''}`;
  return { label, dir, config: resolveConfig({ kind, ...fields }) };
}

/** Check method names before any work; fp32 always comes first (it is the reference). Returns row labels. */
export function parseMethods(list: string[]): string[] {
  const labels = list.map((m) => {
    const spec = methodSpec(m);
    if (!spec) throw new UsageError(`unknown method '${m}' (known: ${defaultMethods().join(', ')}; ${Object.entries(VARIANT_TOKENS).map(([k, t]) => `${k}:${Object.keys(t).join('|')}`).join('; ')}; +-joined; @<size budget> for weight-only)`);
    return spec.label;
  });
  return [BASELINE, ...new Set(labels.filter((m) => m !== BASELINE))];
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A finished variant folder for this source hash and config (quantlab.json is written last), or null:
 * absent, unreadable, for another source, config, quantlab version or build (`quantlabCode`), or naming files that are not there — the variant
 * is then made again. Every field read is checked (the record is a file anyone can edit).
 */
export function cachedRecord(dir: string, hash: string, config: MethodConfig): QuantizedRecord | null {
  const file = path.join(dir, 'quantlab.json');
  let r: QuantizedRecord;
  try { r = JSON.parse(fs.readFileSync(file, 'utf8')) as QuantizedRecord; } catch { return null; }
  // Other quantlab code may quantize the same config differently: such a variant is made again.
  if (!r || typeof r !== 'object' || r.quantlab_version !== quantlabVersion() || r.quantlab_code !== quantlabCode() || r.source?.hash !== hash || !sameJson(r.method, config)) return null;
  const m = r.model as Partial<QuantizedRecord['model']> | undefined;
  if (typeof m?.file !== 'string' || !m.files || typeof m.files !== 'object' || Array.isArray(m.files)) return null;
  const inside = (f: string) => { const p = path.resolve(dir, f); return p.startsWith(path.resolve(dir) + path.sep) && fs.existsSync(p); };
  return inside(m.file) && filesOf(dir, r).every(inside) ? r : null;
}

function filesOf(dir: string, r: QuantizedRecord): string[] {
  return Object.keys(r.model.files).filter((f) => f.startsWith('onnx/')).map((f) => path.join(dir, f));
}

/**
 * The variant for `method`: reused from <variantsDir>/<method>/ when a finished folder for the same
 * source and config is there, else quantized (FP32: the KV-cache graph as built) and written.
 */
export async function prepareVariant(model: LoadedModel, method: string, variantsDir: string, explain: (m: string) => void = () => {}): Promise<Variant> {
  const spec = methodSpec(method);
  if (!spec) throw new UsageError(`unknown method '${method}'`);
  const config = spec.config;
  const summary = method === BASELINE ? 'unquantized FP32 baseline (the KV-cache graph as built)' : methodByKind(config.kind)!.summary;
  const dir = path.join(variantsDir, spec.dir);
  const hit = cachedRecord(dir, model.hash, config);
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
