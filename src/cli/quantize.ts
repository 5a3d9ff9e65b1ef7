import fs from 'node:fs';
import { loadModel, resolveModelSpec } from '../load/index.js';
import type { MethodConfig } from '../passes/pass.js';
import { Progress } from '../util/progress.js';
import { quantizeToFolder, type QuantizeFolderResult } from '../passes/quantize.js';
import { METHODS } from '../passes/registry.js';
import type { SelectionConfig, TensorOverride } from '../passes/select.js';
import { InputError, UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { intOption, requireString } from './options.js';
import { parseBudget } from '../passes/weight-budget.js';

type FlagValue = string | boolean;
/** Method-specific flags; each maps its value to config fields. */
type Flag = 'per-tensor' | 'block' | 'asymmetric' | 'full-range' | 'calibration' | 'calib-windows' | 'calib-method' | 'percentile' | 'smoothquant' | 'max-ppl-increase'
  | 'algorithm' | 'importance' | 'act-order' | 'max-size' | 'bits-per-weight' | 'per-token' | 'half-compute';
const FLAGS: Flag[] = ['per-tensor', 'block', 'asymmetric', 'full-range', 'calibration', 'calib-windows', 'calib-method', 'percentile', 'smoothquant', 'max-ppl-increase', 'algorithm', 'importance', 'act-order', 'max-size', 'bits-per-weight', 'per-token', 'half-compute'];
type FlagMap = Partial<Record<Flag, (v: FlagValue) => Record<string, unknown>>>;

function numberFlag(v: FlagValue, name: string): number {
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  return n;
}

/** Setter for rows that take --block. */
export const blockFlag = (v: FlagValue) => ({ blockSize: intOption(v, 'block') });

const WEIGHT_ONLY_FLAGS: FlagMap = {
  block: blockFlag, asymmetric: () => ({ symmetric: false }), algorithm: (v) => ({ algorithm: String(v) }),
  importance: () => ({ importance: true }), 'act-order': () => ({ actOrder: true }),
  calibration: (v) => ({ calibration: String(v) }), 'calib-windows': (v) => ({ calibWindows: intOption(v, 'calib-windows') }),
  'max-size': (v) => {
    const b = parseBudget(String(v));
    if (!b || 'bitsPerWeight' in b) throw new UsageError(`--max-size must be bytes, kB/MB/GB or a percentage of the FP32 model (e.g. 9MB, 18%), got '${v}'`);
    return { budget: b };
  },
  'bits-per-weight': (v) => ({ budget: { bitsPerWeight: numberFlag(v, 'bits-per-weight') } }),
};

/** One row per method: the flags it takes and the config fields they set. Flags not in a row are refused. */
export const METHOD_FLAGS: Record<string, FlagMap> = {
  'dynamic-int8': {
    'per-tensor': () => ({ granularity: 'tensor' }), asymmetric: () => ({ symmetric: false }), 'full-range': () => ({ reduceRange: false }), 'per-token': () => ({ activationScales: 'token' }),
    algorithm: (v) => ({ algorithm: String(v) }), calibration: (v) => ({ calibration: String(v) }), 'calib-windows': (v) => ({ calibWindows: intOption(v, 'calib-windows') }),
  },
  'static-int8': {
    'per-tensor': () => ({ weightGranularity: 'tensor' }), asymmetric: () => ({ activations: 'uint8' }), 'full-range': () => ({ reduceRange: false }),
    calibration: (v) => ({ calibration: String(v) }), 'calib-windows': (v) => ({ calibWindows: intOption(v, 'calib-windows') }),
    'calib-method': (v) => ({ calibMethod: String(v) }), percentile: (v) => ({ percentile: numberFlag(v, 'percentile') }),
    smoothquant: (v) => ({ smoothquant: numberFlag(v, 'smoothquant') }), 'max-ppl-increase': (v) => ({ maxPplIncrease: numberFlag(v, 'max-ppl-increase') }),
  },
  'int4-weight': WEIGHT_ONLY_FLAGS,
  'int8-weight': WEIGHT_ONLY_FLAGS,
  // --calibration on fp16/bf16 runs the overflow check on that text.
  fp16: { calibration: (v) => ({ overflowCheck: true, calibration: String(v) }), 'half-compute': () => ({ compute: 'half' }) },
  bf16: { calibration: (v) => ({ overflowCheck: true, calibration: String(v) }) },
};

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'quantize a model with one method and write a loadable model folder',
  usage: 'quantlab quantize --model <folder|onnx> --method <kind> [--per-tensor] [--per-token] [--block N] [--asymmetric] [--full-range] [--half-compute] [--algorithm rtn|gptq|awq [--importance] [--act-order]] [--max-size 9MB|18% | --bits-per-weight x] [--calibration brown [--calib-windows N] [--calib-method m] [--percentile p] [--smoothquant a] [--max-ppl-increase pct]] [--include re] [--exclude re] [--exclude-op T] [--overrides file.json] [--config file.json] [--verbose] --out <folder>',
  options: {
    model: { type: 'string', description: 'input model folder (HF safetensors or ONNX export), .onnx file or Hugging Face id', valueName: 'path|id' },
    method: { type: 'string', description: `quantization method: ${METHODS.map((m) => m.kind).join(', ')}`, valueName: 'kind' },
    out: { type: 'string', description: 'output folder (must not be or contain the input model)', valueName: 'folder' },
    'per-tensor': { type: 'boolean', description: 'one scale per weight tensor instead of per output channel' },
    'half-compute': { type: 'boolean', description: 'fp16: compute in float16 too (for GPU / WebGPU targets; onnxruntime\'s CPU provider has no FP16 GEMM, so on CPU it is slower than FP32). Default: float16 storage, FP32 compute' },
    'per-token': { type: 'boolean', description: 'dynamic-int8: one activation scale per token instead of per MatMul call (MatMulInteger with plain ops; closer to FP32)' },
    block: { type: 'string', description: 'block size along the input dimension (block-wise methods)', valueName: 'N' },
    asymmetric: { type: 'boolean', description: 'asymmetric weights (zero points) instead of symmetric' },
    'full-range': { type: 'boolean', description: 'int8 weights on −127..127 instead of −64..64: more precise where the model will run on a CPU with VNNI (AVX-512 VNNI, AVX-VNNI); on AVX2-only CPUs onnxruntime\'s int8 kernel saturates and it is worse (README: reduced range)' },
    include: { type: 'string', multiple: true, description: 'only nodes whose name or weight name matches this regex (glob:… for a glob); repeatable', valueName: 're' },
    exclude: { type: 'string', multiple: true, description: 'leave nodes matching this regex in float; repeatable', valueName: 're' },
    'exclude-op': { type: 'string', multiple: true, description: 'leave every node of this op type in float (MatMul, Gemm, Gather); repeatable', valueName: 'T' },
    overrides: { type: 'string', description: 'JSON file: { "<weight or node name or glob>": { "skip": true, "bits": 4, ... } }', valueName: 'file' },
    config: { type: 'string', description: 'JSON file with method config fields (applied before the flags)', valueName: 'file' },
    algorithm: { type: 'string', description: 'int4/int8-weight: rtn (default), gptq (error-compensating, reads --calibration) or awq (activation-aware scales folded into the norms); dynamic-int8: rtn or gptq', valueName: 'a' },
    importance: { type: 'boolean', description: 'int4/int8-weight rtn or awq: block scales weighted by the calibration activations (llama.cpp imatrix); gptq always does' },
    'max-size': { type: 'string', description: 'int4/int8-weight: mixed precision; each weight\'s bits (4/8) and block (32/128) chosen from measured sensitivity so the model fits, e.g. 9MB or 18% (of FP32)', valueName: 'size' },
    'bits-per-weight': { type: 'string', description: 'int4/int8-weight: mixed precision under this many bits per parameter (all parameters, llama.cpp\'s bpw)', valueName: 'x' },
    'act-order': { type: 'boolean', description: 'int4/int8-weight gptq: quantize inputs in order of decreasing activation energy' },
    calibration: { type: 'string', description: 'static-int8, gptq, awq, --importance: calibration text, a dataset (train split) or a file; never the evaluation split (default brown)', valueName: 'dataset' },
    'calib-windows': { type: 'string', description: 'calibration windows (static-int8 default 32 of the model context; weight-only 64 of ≤ 512 tokens)', valueName: 'N' },
    'calib-method': { type: 'string', description: 'static-int8: minmax | percentile | entropy | mse (default percentile)', valueName: 'm' },
    percentile: { type: 'string', description: 'static-int8: percentile of |x| for --calib-method percentile (default 99.99)', valueName: 'p' },
    smoothquant: { type: 'string', description: 'static-int8: SmoothQuant migration strength alpha in [0, 1], e.g. 0.5', valueName: 'alpha' },
    'max-ppl-increase': { type: 'string', description: 'static-int8: keep the most sensitive MatMuls in float until held-out (val) perplexity rises at most this %', valueName: 'pct' },
    verbose: { type: 'boolean', description: 'explain every weight that was skipped or converted, and why' },
  },
  async run(v) {
    const kind = requireString(v.method, 'method');
    if (!METHODS.some((m) => m.kind === kind)) throw new UsageError(`unknown method '${kind}' (known: ${METHODS.map((m) => m.kind).join(', ')})`);
    const out = requireString(v.out, 'out');
    const config: MethodConfig & Record<string, unknown> = { ...readJson(v.config, 'config'), kind };
    const flags = METHOD_FLAGS[kind] ?? {};
    for (const f of FLAGS) {
      if (v[f] === undefined) continue;
      const set = flags[f];
      if (!set) {
        const takes = Object.keys(flags).map((k) => `--${k}`).join(', ') || 'none';
        throw new UsageError(`--${f} does not apply to ${kind} (its flags: ${takes})`);
      }
      Object.assign(config, set(v[f] as FlagValue));
    }
    const select: SelectionConfig = { ...(config.select as SelectionConfig | undefined) };
    if (v.include) select.include = v.include as string[];
    if (v.exclude) select.exclude = v.exclude as string[];
    if (v['exclude-op']) select.excludeOps = v['exclude-op'] as string[];
    if (v.overrides) select.overrides = readJson(v.overrides, 'overrides') as Record<string, TensorOverride>;
    if (Object.keys(select).length) config.select = select;

    const model = loadModel(await resolveModelSpec(requireString(v.model, 'model')));
    const verbose = Boolean(v.verbose);
    const bar = new Progress('quantize', 1);
    const t0 = performance.now();
    const r = await quantizeToFolder({
      model, config, out, explain: verbose ? (m) => console.error(`  ${m}`) : undefined,
      onProgress: (d, t, bytes) => bar.update(d, t, `tensors, ${(bytes / 1e9 / ((performance.now() - t0) / 1000)).toFixed(2)} GB/s (FP32)`),
    });
    bar.done();
    printQuantized(r, kind, out, verbose);
    return 0;
  },
};

/** What the quantize and qat commands print about a written variant. */
export function printQuantized(r: QuantizeFolderResult, kind: string, out: string, verbose: boolean): void {
  const rep = r.result.report;
  console.log(`method      ${kind} ${JSON.stringify(r.record.method)}`);
  if (r.resumed) console.log(`resumed     ${r.resumed} weights from the interrupted run in ${out}.partial`);
  console.log(`quantized   ${rep.converted.length} weights in ${(r.passMs / 1000).toFixed(2)} s; skipped ${rep.skipped.length} nodes${verbose || !rep.skipped.length ? '' : ' (--verbose says why)'}`);
  for (const n of rep.notes) console.log(`note        ${n}`);
  console.log(`size        ${r.outBytes.toLocaleString('en-US')} bytes (${((100 * r.outBytes) / r.sourceBytes).toFixed(1)}% of ${r.sourceBytes.toLocaleString('en-US')})`);
  console.log(`wrote       ${out}`);
}

export function readJson(file: unknown, what: string): Record<string, unknown> {
  if (file === undefined) return {};
  const f = String(file);
  let text: string;
  try { text = fs.readFileSync(f, 'utf8'); } catch { throw new InputError(f, `cannot read --${what} file`); }
  let obj: unknown;
  try { obj = JSON.parse(text); } catch (e) { throw new InputError(f, `not valid JSON (${(e as Error).message})`); }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new InputError(f, 'expected a JSON object');
  return obj as Record<string, unknown>;
}
