import { Builder } from '../ir/builder.js';
import { cloneModel, type Graph, type Model, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { toFloat32 } from '../hf/safetensors.js';
import { chooseParams, quantize as quantizeWith, type QuantScheme } from '../quant/primitives.js';
import { collectActivationStats, textWindows, type ActivationStats } from '../quant/calibration/collect.js';
import { CALIBRATION_METADATA, loadCalibrationText } from '../quant/calibration/source.js';
import { absThreshold, CALIB_METHODS, type CalibMethod } from '../quant/calibration/thresholds.js';
import { applySmoothing, smoothGroups } from '../quant/smoothquant.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { dynamicInt8, dynamicInt8Defaults } from './dynamic-int8.js';
import { engineOf } from './engine.js';
import { emptyReport, modelCtx, type PassContext, type PassReport, type PassResult, type QuantMethod, type TextPassContext } from './pass.js';
export type { TextPassContext } from './pass.js';
import { selectWeights, type SelectableConfig, type WeightSite } from './select.js';
import { fallbackUnderBudget } from './static-int8-fallback.js';

/**
 * Static INT8 in QDQ form: every selected MatMul reads QuantizeLinear→DequantizeLinear of its
 * activation (one calibrated range per tensor) and DequantizeLinear of an int8 weight (per output
 * channel), which onnxruntime fuses into MatMulIntegerToFloat / QLinearMatMul. The embedding tables
 * and, by default, the LM head (tied or not) are quantized as dynamic-int8 does them (int8 table,
 * activation range measured at run time), so the 50k-wide head never depends on one calibrated range;
 * head 'static' calibrates it like the other MatMuls (the tied table is then read through a Transpose
 * that onnxruntime folds at load, as dynamic-int8 does).
 */
export interface StaticInt8Config extends SelectableConfig {
  kind: 'static-int8';
  /** Calibration text: a registered dataset (with calibSplit) or a file. Refused when it is an evaluation split. */
  calibration: string;
  calibSplit: string;
  calibWindows: number;
  /** Window length in tokens (default: the model's maximum positions). */
  calibCtx: number | null;
  calibMethod: CalibMethod;
  /** Percentile of |x| for calibMethod 'percentile'. */
  percentile: number;
  /** 'int8': symmetric, zero point 0 (S8S8). 'uint8': asymmetric range with a zero point (U8S8). */
  activations: 'int8' | 'uint8';
  weightGranularity: 'channel' | 'tensor';
  /**
   * Int8 weights on -64..64 instead of -127..127. onnxruntime 1.30's u8s8 kernel on this CPU adds pairs of
   * uint8·int8 products in int16 with saturation (found for dynamic-int8): full-range weights against large
   * activation codes overflow. On the tiny test GPT-2 this halves the logit error (0.097 → 0.048); 7-bit
   * activations instead (uint8 0..127) measured worse (0.052–0.063).
   */
  reduceRange: boolean;
  /** SmoothQuant migration strength α, or null for none. */
  smoothquant: number | null;
  /** Keep the most damaging MatMuls in float until held-out perplexity rises at most this many percent. */
  maxPplIncrease: number | null;
  /** Held-out text for the fallback budget (never the test split). */
  fallbackSplit: string;
  fallbackWindows: number;
  /** Windows for the per-layer sensitivity ranking. */
  sensitivityWindows: number;
  /**
   * LM head: 'dynamic' as dynamic-int8 does it; 'static' with a calibrated range (a fallback then
   * moves it to dynamic, never to float); 'float' leaves head and embeddings in float.
   */
  head: 'dynamic' | 'static' | 'float';
}

export const staticInt8Defaults: StaticInt8Config = {
  kind: 'static-int8', calibration: 'brown', calibSplit: 'train', calibWindows: 32, calibCtx: null, calibMethod: 'percentile',
  percentile: 99.99, activations: 'int8', weightGranularity: 'channel', reduceRange: true, smoothquant: null, maxPplIncrease: null,
  fallbackSplit: 'val', fallbackWindows: 48, sensitivityWindows: 8, head: 'dynamic',
};

/** Check static-int8 settings; errors name `method` (qat-int8 validates the settings it starts from with this too). */
export function validateStaticInt8(c: StaticInt8Config, method = 'static-int8'): void {
  const bad = (m: string) => { throw new UsageError(`${method}: ${m}`); };
  if (!CALIB_METHODS.includes(c.calibMethod)) bad(`--calib-method must be one of ${CALIB_METHODS.join(', ')}, got '${c.calibMethod}'`);
  if (!Number.isInteger(c.calibWindows) || c.calibWindows < 1) bad(`--calib-windows must be a positive integer, got ${c.calibWindows}`);
  if (!(c.percentile > 0 && c.percentile <= 100)) bad(`--percentile must be in (0, 100], got ${c.percentile}`);
  if (c.activations !== 'int8' && c.activations !== 'uint8') bad(`activations must be 'int8' or 'uint8', got '${c.activations}'`);
  if (c.weightGranularity !== 'channel' && c.weightGranularity !== 'tensor') bad(`weightGranularity must be 'channel' or 'tensor'`);
  if (c.smoothquant !== null && !(c.smoothquant >= 0 && c.smoothquant <= 1)) bad(`--smoothquant alpha must be in [0, 1], got ${c.smoothquant}`);
  if (c.maxPplIncrease !== null && !(c.maxPplIncrease >= 0)) bad(`--max-ppl-increase must be a non-negative percentage, got ${c.maxPplIncrease}`);
  if (!['dynamic', 'static', 'float'].includes(c.head)) bad(`head must be 'dynamic', 'static' or 'float', got '${c.head}'`);
}

/** Activation range [lo, hi] per tensor (lo ≤ 0 ≤ hi). */
export type Ranges = Map<string, { lo: number; hi: number }>;

export function rangesFromStats(stats: Map<string, ActivationStats>, c: Pick<StaticInt8Config, 'calibMethod' | 'percentile' | 'activations'>): Ranges {
  const out: Ranges = new Map();
  for (const [name, s] of stats) {
    const t = absThreshold(s.hist, c.calibMethod, { percentile: c.percentile });
    // Asymmetric: the observed range clipped to the same threshold; one-signed tensors (post-GELU) gain ~2×.
    out.set(name, c.activations === 'int8' ? { lo: -t, hi: t } : { lo: Math.min(0, Math.max(s.hist.min, -t)), hi: Math.max(0, Math.min(s.hist.max, t)) });
  }
  return out;
}

/** The model the pass quantizes, its candidate MatMuls and what calibration measured. */
export interface Prepared {
  base: Model;
  sites: WeightSite[];
  /** The LM head node(s). */
  headNodes: string[];
  /** Nodes handled as dynamic-int8 does them (embedding Gathers, and the LM head unless head = 'static'). */
  dynamicNodes: string[];
  ranges: Ranges;
  calibration: { name: string; sha256: string };
  notes: string[];
  skipped: PassReport['skipped'];
}


/** Vocabulary size: rows of the first Gather table read with token ids. */
function vocabRows(g: Graph): number | undefined {
  const gather = g.nodes.find((n) => n.opType === 'Gather' && n.inputs[0]?.constant && n.inputs[1]?.name === 'input_ids');
  return gather?.inputs[0]!.constant!.dims[0];
}

/** Calibrate (and smooth) `input`: everything static-int8 needs before it writes Q/DQ nodes. */
export async function prepareStaticInt8(input: Model, c: StaticInt8Config, ctx: TextPassContext): Promise<Prepared> {
  if (!ctx.tokenizer) throw new UsageError('static-int8 needs the model tokenizer to read calibration text');
  const notes: string[] = [];
  const ds = loadCalibrationText(c.calibration, c.calibSplit);
  const winLen = c.calibCtx ?? modelCtx(input) ?? 512;
  const windows = textWindows(ds.text, c.calibWindows, winLen, (t) => ctx.tokenizer!.encode(t));
  notes.push(`calibration: ${ds.name} (sha256 ${ds.sha256.slice(0, 12)}…), ${windows.length} windows of ${winLen} tokens, method ${c.calibMethod}${c.calibMethod === 'percentile' ? ` ${c.percentile}` : ''}, activations ${c.activations}`);

  const base = cloneModel(input);
  const g = base.graph;
  const vocab = vocabRows(g);
  // The LM head (tied Gemm, or a MatMul as wide as the vocabulary) and the embedding tables go through dynamic-int8.
  const headNodes = new Set(g.nodes.filter((n) => (n.opType === 'Gemm' || n.opType === 'MatMul') && n.inputs[1]?.constant &&
    (n.opType === 'Gemm' || n.inputs[1]!.constant!.dims[1] === vocab)).map((n) => n.name));
  const sel = selectWeights(base, c.select, ctx, {
    ops: c.head === 'static' ? ['MatMul', 'Gemm'] : ['MatMul'],
    check: (s) => {
      if (s.op === 'Gemm' && (s.inAxis !== 1 || (s.node.attr('beta', 'float') ?? 1) !== 1)) return 'Gemm other than a transB=1 head';
      if (!headNodes.has(s.node.name) || c.head === 'static') return null;
      return c.head === 'dynamic' ? 'LM head: quantized as dynamic-int8 does it' : 'LM head: kept in float (head=float)';
    },
  });
  const gathers = g.nodes.filter((n) => n.opType === 'Gather' && n.inputs[0]?.constant && n.inputs[0].constant.dtype === 'float32').map((n) => n.name);
  const dynamicNodes = c.head === 'dynamic' ? [...headNodes, ...gathers] : c.head === 'static' ? gathers : [];
  const siteNames = new Set(sel.sites.map((s) => s.node.name));
  if (!sel.sites.length) throw new UsageError('static-int8: no MatMul with a constant weight left to quantize');

  if (c.smoothquant !== null) {
    // Only groups whose every MatMul is being quantized: smoothing a float-only group gains nothing.
    const groups = smoothGroups(g).filter((grp) => grp.matmuls.every((m) => siteNames.has(m.name)));
    const names = groups.map((grp) => grp.activation.name);
    const bar = new Progress('smoothquant stats', windows.length);
    const st = await collectActivationStats(base, windows, { tensors: names, channelTensors: names, engine: engineOf(ctx, 'static-int8'), session: ctx.session, onProgress: (d, t) => bar.update(d, t) });
    bar.done();
    for (const grp of groups) {
      const s = applySmoothing(grp, st.get(grp.activation.name)!.channels!.max, c.smoothquant);
      let lo = Infinity, hi = 0;
      for (const v of s) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      ctx.explain(`SmoothQuant α=${c.smoothquant} folded into ${grp.norm.name} for ${grp.matmuls.map((m) => m.name).join(', ')} (scales ${lo.toPrecision(3)}…${hi.toPrecision(3)})`);
    }
    notes.push(`smoothquant: α=${c.smoothquant} folded into ${groups.length} norms (${groups.map((x) => x.norm.name).join(', ')})`);
  }
  // Point the sites at the tensors they will quantize (SmoothQuant swapped in scaled weights).
  const sites = sel.sites.map((s) => ({ ...s, tensor: s.weight.constant! }));
  const tensors = [...new Set(sites.map((s) => s.node.inputs[0]!.name))];
  const bar = new Progress('calibration', windows.length);
  const stats = await collectActivationStats(base, windows, { tensors, engine: engineOf(ctx, 'static-int8'), session: ctx.session, onProgress: (d, t) => bar.update(d, t) });
  bar.done();
  const ranges = rangesFromStats(stats, c);
  for (const [name, r] of ranges) {
    const s = stats.get(name)!.hist;
    ctx.explain(`activation ${name}: observed [${s.min.toPrecision(4)}, ${s.max.toPrecision(4)}], range [${r.lo.toPrecision(4)}, ${r.hi.toPrecision(4)}]`);
  }
  return { base, sites, dynamicNodes, headNodes: [...headNodes], ranges, calibration: { name: ds.name, sha256: ds.sha256 }, notes, skipped: sel.skipped };
}

const escapeRe = (s: string) => `^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

/** Write the QDQ model with the MatMuls named in `quantize` in int8 (the others stay float). */
export async function buildStaticInt8(p: Prepared, c: StaticInt8Config, quantize: Set<string>, ctx: TextPassContext): Promise<Model> {
  let model: Model;
  // A static head that is not quantized statically falls back to dynamic int8, not to float.
  const dynamic = [...p.dynamicNodes, ...(p.dynamicNodes.length ? p.headNodes.filter((h) => p.sites.some((s) => s.node.name === h) && !quantize.has(h)) : [])];
  if (dynamic.length) {
    const quiet: PassContext = { ...ctx, explain: () => {} };
    model = (await dynamicInt8.run(p.base, { ...dynamicInt8Defaults, select: { include: dynamic.map(escapeRe) } }, quiet)).model;
  } else {
    model = cloneModel(p.base);
  }
  const g = model.graph;
  const b = new Builder(g);
  const actDq = new Map<string, Value>();
  const signed = c.activations === 'int8';
  const activation = (x: Value): Value => {
    let dq = actDq.get(x.name);
    if (dq) return dq;
    const r = p.ranges.get(x.name)!;
    let scale: number, zp: number;
    if (signed) { scale = r.hi / 127; zp = 0; } else { scale = (r.hi - r.lo) / 255; zp = scale > 0 ? Math.round(-r.lo / scale) : 0; }
    if (!(scale > 0)) scale = 1;
    const s = g.addInitializer(g.uniqueName(`${x.name}_scale`), Tensor.scalarF32(scale));
    const z = g.addInitializer(g.uniqueName(`${x.name}_zero_point`), signed ? new Tensor('int8', [], Int8Array.of(zp)) : new Tensor('uint8', [], Uint8Array.of(zp)));
    const q = b.op('QuantizeLinear', [x, s, z], {}, { name: `${x.name}_QuantizeLinear` });
    dq = b.op('DequantizeLinear', [q, s, z], {}, { name: `${x.name}_DequantizeLinear` });
    actDq.set(x.name, dq);
    return dq;
  };
  for (const site of p.sites) {
    if (!quantize.has(site.node.name)) continue;
    const node = g.nodes.find((n) => n.name === site.node.name)!;
    const w = node.inputs[1]!;
    const wdq = weightDq(b, g, w, site.inAxis, c.weightGranularity === 'tensor', c.reduceRange);
    const xdq = activation(node.inputs[0]!);
    if (node.opType === 'MatMul') {
      g.setInput(node, 0, xdq);
      g.setInput(node, 1, wdq);
      continue;
    }
    // Gemm(transB=1) head → MatMul over the transposed int8 table (+ bias), the pattern onnxruntime fuses.
    let y = b.op('MatMul', [xdq, wdq], {}, { name: `${node.name}/MatMul` });
    if (node.inputs[2]) y = b.op('Add', [y, node.inputs[2]], {}, { name: `${node.name}/bias` });
    g.replaceAllUses(node.outputs[0], y);
    g.removeNode(node);
  }
  g.removeUnusedInitializers();
  g.sortTopologically();
  return model;
}

/**
 * DequantizeLinear of an int8 weight as a [K, N] MatMul operand, one scale per output channel N (or per
 * tensor). A weight stored [N, K] (Gemm transB) is quantized per row and transposed in int8 before the
 * DQ, so onnxruntime folds the Transpose at load and still sees DQ(constant) → MatMul. A table that
 * dynamic-int8 already quantized per row for the embedding Gather is reused, not stored twice.
 */
function weightDq(b: Builder, g: Graph, w: Value, inAxis: 0 | 1, perTensor: boolean, reduceRange: boolean): Value {
  const [R, C] = w.constant!.dims;
  const N = inAxis === 0 ? C : R;
  const dims = perTensor ? [] : [N];
  const shared = inAxis === 1 && !perTensor && reduceRange ? g.value(`${w.name}_quantized_rows`) : undefined;
  let qv: Value, sv: Value;
  if (shared?.constant?.dtype === 'int8' && g.value(`${w.name}_scale_rows`)) {
    qv = shared;
    sv = g.mustValue(`${w.name}_scale_rows`);
  } else {
    const x = toFloat32(w.constant!).data as Float32Array;
    const scheme: QuantScheme = { type: 'int8', symmetric: true, granularity: perTensor ? 'tensor' : 'channel', axis: inAxis };
    const params = chooseParams(x, R, C, scheme);
    if (reduceRange) for (let i = 0; i < params.scale.length; i++) params.scale[i] *= 127 / 64;
    const q = quantizeWith(x, R, C, scheme, params);
    qv = g.addInitializer(g.uniqueName(`${w.name}_quantized`), new Tensor('int8', [R, C], q));
    sv = g.addInitializer(g.uniqueName(`${w.name}_scale`), new Tensor('float32', dims, params.scale));
  }
  const zv = g.addInitializer(g.uniqueName(`${w.name}_zero_point`), new Tensor('int8', dims, new Int8Array(perTensor ? 1 : N)));
  const kn = inAxis === 0 ? qv : b.op('Transpose', [qv], { perm: [1, 0] }, { name: `${w.name}_transpose` });
  return b.op('DequantizeLinear', [kn, sv, zv], perTensor ? {} : { axis: 1 }, { name: `${w.name}_DequantizeLinear` });
}

export const staticInt8: QuantMethod<StaticInt8Config> = {
  kind: 'static-int8',
  summary: 'int8 weights (per channel) and int8 activations with calibrated ranges (QDQ); SmoothQuant; fallback under a perplexity budget',
  defaults: staticInt8Defaults,
  async run(input: Model, config: StaticInt8Config, ctx: TextPassContext): Promise<PassResult> {
    validateStaticInt8(config);
    const p = await prepareStaticInt8(input, config, ctx);
    const report = emptyReport();
    report.skipped.push(...p.skipped);
    report.notes.push(...p.notes);
    let quantize = new Set(p.sites.map((s) => s.node.name));
    if (config.maxPplIncrease !== null) {
      const fb = await fallbackUnderBudget(p, config, ctx, input, (prep, q) => buildStaticInt8(prep, config, q, ctx));
      quantize = fb.quantize;
      report.notes.push(...fb.notes);
      for (const n of fb.kept) report.skipped.push({ node: n, reason: `kept in float by --max-ppl-increase ${config.maxPplIncrease}` });
    }
    const model = await buildStaticInt8(p, config, quantize, ctx);
    report.converted.push(...p.sites.filter((s) => quantize.has(s.node.name)).map((s) => s.weight.name), ...p.dynamicNodes);
    report.notes.push(int8Share(input, p, quantize));
    model.metadata[CALIBRATION_METADATA] = JSON.stringify({ dataset: p.calibration.name, sha256: p.calibration.sha256, windows: config.calibWindows, method: config.calibMethod });
    return { model, report };
  },
};

/** "x% of MatMul multiply-adds per token run in int8" over every weight MatMul/Gemm (attention score products excluded). */
export function int8Share(input: Model, p: Prepared, quantize: Set<string>): string {
  let total = 0, int8 = 0;
  for (const n of input.graph.nodes) {
    if ((n.opType !== 'MatMul' && n.opType !== 'Gemm') || !n.inputs[1]?.constant) continue;
    const [a, b] = n.inputs[1].constant.dims;
    total += a * b;
    // A head left out of the static set still runs dynamic int8 (unless head = 'float').
    if (quantize.has(n.name) || p.dynamicNodes.includes(n.name) || (p.headNodes.includes(n.name) && p.dynamicNodes.length > 0)) int8 += a * b;
  }
  return `int8 share: ${(100 * int8 / total).toFixed(1)}% of weight-MatMul multiply-adds per token (${quantize.size}/${p.sites.length} static MatMuls${p.dynamicNodes.length ? ', embeddings/head int8' : ''})`;
}
