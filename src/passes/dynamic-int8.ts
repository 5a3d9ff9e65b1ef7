import { Builder } from '../ir/builder.js';
import { cloneModel, type Graph, type Model, type Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { quantizeMatrix, type QuantScheme } from '../quant/primitives.js';
import { toFloat32 } from '../hf/safetensors.js';
import { UsageError } from '../util/errors.js';
import { engineOf } from './engine.js';
import { emptyReport, journaled, type PassContext, type PassResult, type QuantMethod, type TextPassContext } from './pass.js';
import { transpose } from '../quant/primitives.js';
import { CALIBRATION_METADATA } from '../quant/calibration/source.js';
import { Progress } from '../util/progress.js';
import { calibrationGrams, GptqSession, type WeightCalibration } from './weight-only-calibrate.js';
import { requireSome, selectWeights, siteRows, type SelectableConfig, type WeightSite } from './select.js';

/**
 * Dynamic INT8: weights stored as int8 (per output channel or per tensor), activations quantized at
 * run time by onnxruntime. Embedding tables are gathered from an int8 table with per-row scales; a
 * tied LM head (Gemm transB=1 over the same [vocab, hidden] table) reads that same int8 table.
 */
export interface DynamicInt8Config extends SelectableConfig, WeightCalibration {
  kind: 'dynamic-int8';
  /**
   * How the int8 weights are rounded: 'rtn' to nearest; 'gptq' with GPTQ's error compensation on the
   * calibration text (one block per output channel; symmetric weights only). The kernels are the same.
   */
  algorithm: 'rtn' | 'gptq';
  /** GPTQ damping (fraction of the Hessian's mean diagonal), and for a table that is also the embedding (weight-only.ts). */
  damp: number;
  tiedDamp: number;
  /** One scale per output channel (per table row for embeddings / tied heads) or one per tensor. */
  granularity: 'channel' | 'tensor';
  /** Symmetric int8 (-127..127, zero point 0) or asymmetric uint8 with a zero point per group. */
  symmetric: boolean;
  /**
   * 'fused': com.microsoft.DynamicQuantizeMatMul. 'mmi': DynamicQuantizeLinear → MatMulInteger → Cast → Mul,
   * which onnxruntime fuses into the same kernel (measured equal speed; see docs).
   */
  pattern: 'fused' | 'mmi';
  /**
   * How a Gemm(transB=1) head reads the [N, K] int8 table: 'transpose' feeds DynamicQuantizeMatMul through
   * a Transpose node on the int8 initializer (onnxruntime folds it at load: stored once on disk, twice in RAM);
   * 'qgemm' uses com.microsoft.QGemm with transB=1 on the table as stored.
   */
  tiedHead: 'transpose' | 'qgemm';
  /**
   * Symmetric int8 weights read by a matmul use -64..64 instead of -127..127. onnxruntime 1.30's u8s8 kernel
   * on this CPU sums pairs of uint8·int8 products in int16 with saturation: a weight of 127 against an
   * activation code of 255 overflows (measured: a 64-long dot product of 255·127 returned 127.7 instead of
   * 8128). Full range is kept for tables only gathered, and for asymmetric (uint8, u8u8 kernel) weights.
   */
  reduceRange: boolean;
  /**
   * Ablation only: also quantize MatMuls whose both inputs are activations (attention scores and
   * probabilities·V), as onnxruntime's quantize_dynamic does unless MatMulConstBOnly is set. Softmax
   * probabilities in uint8 steps of max/255 lose every small attention weight.
   */
  activationMatmuls: boolean;
  /**
   * Activation scales: 'tensor' = one per MatMul call (DynamicQuantizeMatMul: every token of a prompt
   * shares the range of its largest value); 'token' = one scale and zero point per row (token), computed
   * by plain ops (ReduceMin/ReduceMax → uint8 codes over the row's range → MatMulInteger → − zero point ×
   * column sums → × row scale × channel scale), so a token with an outlier no longer coarsens every other
   * token's codes, and a skewed row (GELU output) uses every code. Symmetric weights only.
   */
  activationScales: 'tensor' | 'token';
}

export const dynamicInt8Defaults: DynamicInt8Config = {
  kind: 'dynamic-int8', granularity: 'channel', symmetric: true, pattern: 'fused', tiedHead: 'transpose', reduceRange: true, activationMatmuls: false, activationScales: 'tensor',
  algorithm: 'rtn', damp: 0.01, tiedDamp: 0.3, calibration: 'brown', calibSplit: 'train', calibWindows: 64, calibCtx: null,
};

interface QWeight { q: Value; scale: Value; zeroPoint: Value | null; scheme: QuantScheme }

function validate(c: DynamicInt8Config): void {
  if (c.granularity !== 'channel' && c.granularity !== 'tensor') throw new UsageError(`dynamic-int8: granularity must be 'channel' or 'tensor', got '${c.granularity}'`);
  if (typeof c.symmetric !== 'boolean') throw new UsageError('dynamic-int8: symmetric must be true or false');
  if (c.pattern !== 'fused' && c.pattern !== 'mmi') throw new UsageError(`dynamic-int8: pattern must be 'fused' or 'mmi', got '${c.pattern}'`);
  if (typeof c.activationMatmuls !== 'boolean') throw new UsageError('dynamic-int8: activationMatmuls must be true or false');
  if (typeof c.reduceRange !== 'boolean') throw new UsageError('dynamic-int8: reduceRange must be true or false');
  if (c.tiedHead !== 'transpose' && c.tiedHead !== 'qgemm') throw new UsageError(`dynamic-int8: tiedHead must be 'transpose' or 'qgemm', got '${c.tiedHead}'`);
  if (c.activationScales !== 'tensor' && c.activationScales !== 'token') throw new UsageError(`dynamic-int8: activationScales must be 'tensor' or 'token', got '${c.activationScales}'`);
  if (c.algorithm !== 'rtn' && c.algorithm !== 'gptq') throw new UsageError(`dynamic-int8: algorithm must be 'rtn' or 'gptq', got '${c.algorithm}'`);
  if (c.algorithm === 'gptq' && (!c.symmetric || c.granularity !== 'channel')) throw new UsageError('dynamic-int8: GPTQ needs symmetric per-channel weights');
  if (c.activationScales === 'token' && (!c.symmetric || c.tiedHead === 'qgemm')) throw new UsageError('dynamic-int8: per-token activation scales need symmetric weights and the transpose head');
}

export const dynamicInt8: QuantMethod<DynamicInt8Config> = {
  kind: 'dynamic-int8',
  summary: 'int8 weights (per channel), activations quantized at run time; int8 embedding table shared with a tied head',
  defaults: dynamicInt8Defaults,
  run(input: Model, cfg: DynamicInt8Config, ctx: PassContext): PassResult | Promise<PassResult> {
    const config = { ...dynamicInt8Defaults, ...cfg };
    validate(config);
    if (config.algorithm === 'gptq') return gptqWeights(input, config, ctx).then((w) => runDynamicInt8(input, config, ctx, w));
    return runDynamicInt8(input, config, ctx, null);
  },
};

/** Int8 codes and scales computed beforehand (GPTQ), by weight name and orientation (`name|inAxis`). */
type Precomputed = { weights: Map<string, { q: Int8Array; scale: Float32Array }>; note: string; record: string };

const siteSelect = {
  ops: ['MatMul', 'Gemm', 'Gather'] as WeightSite['op'][],
  check: (s: WeightSite) => {
    if (s.op === 'Gemm') {
      const beta = s.node.attr('beta', 'float') ?? 1;
      if (s.node.inputs[2] && beta !== 1) return `Gemm with beta=${beta} is not supported`;
    }
    return null;
  },
};

/** GPTQ per output channel on the calibration text, for every selected linear (and a tied table, through its head). */
async function gptqWeights(input: Model, config: DynamicInt8Config, ctx: TextPassContext): Promise<Precomputed> {
  const sites = selectWeights(input, config.select, { explain: () => {} }, siteSelect).sites;
  const cal = await calibrationGrams(input, sites, config, ctx, 'dynamic-int8 gptq');
  const linear = sites.filter((s) => s.op !== 'Gather');
  const readByMatmul = new Set(linear.map((s) => s.weight.name));
  const gptq = await GptqSession.open(config, engineOf(ctx, 'gptq'), ctx.session);
  const weights = new Map<string, { q: Int8Array; scale: Float32Array }>();
  const bar = new Progress('gptq', linear.length);
  try {
    for (const [i, s] of linear.entries()) {
      const key = `${s.weight.name}|${s.inAxis}`;
      if (weights.has(key)) continue;
      const input = s.node.inputs[0]!.name;
      const tied = sites.some((t) => t.op === 'Gather' && t.weight === s.weight);
      // Reduced range: 7-bit codes (−64..63), the range the u8s8 kernel cannot overflow (see reduceRange).
      const bits = (config.reduceRange && readByMatmul.has(s.weight.name) ? 7 : 8) as 8;
      const bq = await gptq.quantize(input, cal.grams.get(input)!, siteRows(s), s.outDim, { bits, blockSize: s.inDim, symmetric: true }, tied);
      const mid = 1 << (bits - 1);
      const signed = new Int8Array(bq.codes.length);
      for (let j = 0; j < signed.length; j++) signed[j] = bq.codes[j] - mid;
      // Stored as the site reads it: [K, N] for a MatMul, [N, K] rows for a table.
      weights.set(key, { q: s.inAxis === 1 ? signed : transpose(signed, s.outDim, s.inDim), scale: bq.scales });
      bar.update(i + 1, linear.length);
    }
  } finally {
    bar.done();
    await gptq.release();
  }
  return { weights, note: cal.note, record: cal.record };
}

function runDynamicInt8(input: Model, config: DynamicInt8Config, ctx: PassContext, pre: Precomputed | null): PassResult {
  {
    const model = cloneModel(input);
    const g = model.graph;
    const report = emptyReport();
    const sel = selectWeights(model, config.select, ctx, siteSelect);
    requireSome(sel, 'dynamic-int8');
    report.skipped.push(...sel.skipped);

    const b = new Builder(g);
    const readByMatmul = new Set(sel.sites.filter((s) => s.op !== 'Gather').map((s) => s.weight.name));
    const cache = new Map<string, QWeight>();
    // One quantized copy per (weight, grouping): MatMul groups along axis 0 (per column); Gather and a
    // Gemm(transB) head group along axis 1 (per row of the stored table), so a tied table is shared.
    const quantized = (s: WeightSite): QWeight => {
      const granularity = s.override.granularity === 'tensor' || (s.override.granularity === undefined && config.granularity === 'tensor') ? 'tensor' : 'channel';
      const symmetric = s.override.symmetric ?? config.symmetric;
      if (s.override.bits !== undefined && s.override.bits !== 8) throw new UsageError(`dynamic-int8: override '${s.overrideKey}' asks for ${s.override.bits} bits; this method is 8-bit only`);
      const reduceRange = symmetric && config.reduceRange && readByMatmul.has(s.weight.name);
      const scheme: QuantScheme = { type: symmetric ? 'int8' : 'uint8', symmetric, granularity, axis: s.inAxis, reduceRange };
      const key = `${s.weight.name}|${granularity === 'tensor' ? 't' : s.inAxis}|${symmetric}|${reduceRange}`;
      let w = cache.get(key);
      if (w) return w;
      const [qt, st, zt] = journaled(ctx, `dynamic-int8|${key}|${config.pattern}|${config.algorithm}`, () => {
        // A table gathered only (no head reads it) has no Gram matrix: RTN.
        const g8 = pre?.weights.get(`${s.weight.name}|${s.inAxis}`);
        if (g8) return [new Tensor('int8', [s.rows, s.cols], g8.q), new Tensor('float32', [g8.scale.length], g8.scale)];
        const x = toFloat32(s.tensor).data as Float32Array;
        const { q, params } = quantizeMatrix(x, s.rows, s.cols, scheme);
        const scaleDims = granularity === 'tensor' ? [] : [params.scale.length];
        const out = [new Tensor(scheme.type, [s.rows, s.cols], q), new Tensor('float32', scaleDims, params.scale)];
        return symmetric ? out : [...out, new Tensor('uint8', scaleDims, Uint8Array.from(params.zeroPoint))];
      });
      const base = s.weight.name;
      const suffix = granularity === 'tensor' ? '' : s.inAxis === 0 ? '' : '_rows';
      const qv = g.addInitializer(g.uniqueName(`${base}_quantized${suffix}`), qt);
      const scale = g.addInitializer(g.uniqueName(`${base}_scale${suffix}`), st);
      const zeroPoint = symmetric ? null : g.addInitializer(g.uniqueName(`${base}_zero_point${suffix}`), zt);
      w = { q: qv, scale, zeroPoint, scheme };
      cache.set(key, w);
      report.converted.push(base);
      return w;
    };

    for (const s of sel.sites) {
      const w = quantized(s);
      const old = s.node;
      const y = old.outputs[0];
      let out: Value;
      // A bias (Gemm's C, or an Add of a constant [N] right after) becomes DynamicQuantizeMatMul's bias input,
      // the fusion onnxruntime itself makes for the MatMulInteger form.
      const bias = s.op === 'Gather' ? null : biasOf(s);
      const tag = `${w.scheme.granularity === 'tensor' ? 'per-tensor' : 'per-channel'} ${w.scheme.type}${w.scheme.reduceRange ? ' (-64..64)' : ''}`;
      if (s.op === 'Gather') {
        out = gatherDequant(b, old.name, w, old.inputs[1]!);
        ctx.explain(`Gather ${old.name}: ${tag} table ${w.q.name} with per-row scales`);
      } else if (config.activationScales === 'token') {
        const wq = s.inAxis === 0 ? w : { ...w, q: b.op('Transpose', [w.q], { perm: [1, 0] }, { name: `${old.name}/weight_transpose` }) };
        const colsum = g.addInitializer(g.uniqueName(`${w.q.name}_column_sums`), new Tensor('float32', [s.outDim], columnSums(w.q.constant!, s.inAxis)));
        out = matmulPerToken(b, old.name, old.inputs[0]!, wq, colsum, bias?.value ?? null);
        ctx.explain(`${s.op} ${old.name}: ${tag} weight, per-token int8 activations, MatMulInteger`);
      } else if (s.inAxis === 0) {
        out = matmul(b, old.name, old.inputs[0]!, w, config.pattern, bias?.value ?? null);
        ctx.explain(`${s.op} ${old.name}: ${tag} weight, ${config.pattern === 'fused' ? 'DynamicQuantizeMatMul' : 'DynamicQuantizeLinear+MatMulInteger'}`);
      } else if (config.tiedHead === 'qgemm') {
        out = qgemmTransB(b, g, old.name, old.inputs[0]!, w, bias?.value ?? null);
        ctx.explain(`Gemm ${old.name}: ${tag} table ${w.q.name} read by QGemm transB=1`);
      } else {
        const t = b.op('Transpose', [w.q], { perm: [1, 0] }, { name: `${old.name}/weight_transpose` });
        out = matmul(b, old.name, old.inputs[0]!, { ...w, q: t }, config.pattern, bias?.value ?? null);
        ctx.explain(`Gemm ${old.name}: ${tag} table ${w.q.name} via Transpose (folded at load), DynamicQuantizeMatMul`);
      }
      if (s.op === 'Gemm' && old.inputs[2] && !bias) out = b.op('Add', [out, old.inputs[2]], {}, { name: `${old.name}/bias` });
      if (bias?.add) {
        g.replaceAllUses(bias.add.outputs[0], out);
        g.removeNode(bias.add);
      } else {
        g.replaceAllUses(y, out);
      }
      g.removeNode(old);
    }
    if (config.activationMatmuls) {
      for (const node of g.nodes.filter((n) => n.opType === 'MatMul' && n.domain === '' && n.inputs.every((v) => v && !v.isConstant))) {
        const [aq, as, azp] = b.opN('DynamicQuantizeLinear', [node.inputs[0]!], 3, {}, { name: `${node.name}/quantize_a` });
        const [bq, bs, bzp] = b.opN('DynamicQuantizeLinear', [node.inputs[1]!], 3, {}, { name: `${node.name}/quantize_b` });
        const acc = b.op('MatMulInteger', [aq, bq, azp, bzp], {}, { name: `${node.name}/MatMulInteger` });
        const y = b.op('Mul', [b.op('Cast', [acc], { to: 1 }, { name: `${node.name}/cast` }), b.op('Mul', [as, bs], { }, { name: `${node.name}/scale` })], {}, { name: `${node.name}/dequantize` });
        g.replaceAllUses(node.outputs[0], y);
        g.removeNode(node);
        ctx.explain(`MatMul ${node.name}: both inputs quantized at run time (activationMatmuls ablation)`);
      }
      report.notes.push('activation×activation MatMuls quantized (ablation)');
    }
    model.requireOpset('com.microsoft', 1);
    g.removeUnusedInitializers();
    g.sortTopologically();
    const shared = [...cache.values()].filter((w) => w.q.users().length > 1).map((w) => w.q.name);
    if (shared.length) {
      report.notes.push(`int8 table(s) ${shared.join(', ')} stored once and read by both the embedding Gather and the head` +
        (config.tiedHead === 'transpose' ? ' (the head through a Transpose that onnxruntime folds at load, so RAM holds a second int8 copy)' : ' (QGemm transB=1)'));
    }
    if (pre) {
      report.notes.push(pre.note);
      model.metadata[CALIBRATION_METADATA] = pre.record;
    }
    return { model, report };
  }
}

/** Gather int8 rows and their scales (and zero points), then (q - zp) · scale in float. */
function gatherDequant(b: Builder, name: string, w: QWeight, ids: Value): Value {
  const rows = b.op('Gather', [w.q, ids], { axis: 0 }, { name: `${name}/quantized` });
  let x = b.op('Cast', [rows], { to: 1 }, { name: `${name}/cast` });
  const perRow = (v: Value, what: string) => w.scheme.granularity === 'tensor' ? v
    : b.op('Unsqueeze', [b.op('Gather', [v, ids], { axis: 0 }, { name: `${name}/${what}` }), b.constI64([-1])], {}, { name: `${name}/${what}_unsqueeze` });
  if (w.zeroPoint) x = b.op('Sub', [x, b.op('Cast', [perRow(w.zeroPoint, 'zero_point')], { to: 1 }, { name: `${name}/zero_point_cast` })], {}, { name: `${name}/sub_zero_point` });
  return b.op('Mul', [x, perRow(w.scale, 'scale')], {}, { name: `${name}/dequantize` });
}

/** The constant [N] bias added to a site's output: Gemm's C (beta 1), or the only user being Add(y, const). */
function biasOf(s: WeightSite): { value: Value; add: Node | null } | null {
  const isBias = (v: Value | null | undefined) => !!v?.constant && v.constant.dtype === 'float32' && v.constant.dims.length === 1 && v.constant.dims[0] === s.outDim;
  if (s.op === 'Gemm') return isBias(s.node.inputs[2]) ? { value: s.node.inputs[2]!, add: null } : null;
  const y = s.node.outputs[0];
  if (y.uses.size !== 1) return null;
  const [u] = y.uses;
  if (u.node.opType !== 'Add' || u.node.domain !== '') return null;
  const other = u.node.inputs[1 - u.index];
  return isBias(other) ? { value: other!, add: u.node } : null;
}

function matmul(b: Builder, name: string, a: Value, w: QWeight, pattern: 'fused' | 'mmi', bias: Value | null): Value {
  if (pattern === 'fused') {
    return b.op('DynamicQuantizeMatMul', [a, w.q, w.scale, w.zeroPoint, bias], {}, { name: `${name}/DynamicQuantizeMatMul`, domain: 'com.microsoft' });
  }
  const [aq, as, azp] = b.opN('DynamicQuantizeLinear', [a], 3, {}, { name: `${name}/DynamicQuantizeLinear` });
  const acc = b.op('MatMulInteger', [aq, w.q, azp, w.zeroPoint], {}, { name: `${name}/MatMulInteger` });
  const f = b.op('Cast', [acc], { to: 1 }, { name: `${name}/cast` });
  const y = b.op('Mul', [f, b.op('Mul', [as, w.scale], {}, { name: `${name}/scale` })], {}, { name: `${name}/dequantize` });
  return bias ? b.op('Add', [y, bias], {}, { name: `${name}/bias` }) : y;
}

/**
 * Activations with one scale and zero point per token (last axis): uint8 codes over the row's own
 * [min, max] (with 0 inside it), so a skewed row — a GELU output, ≥ −0.17 — uses all 256 codes, not
 * the half a symmetric range leaves it. MatMulInteger's zero point is per tensor, so it runs with 0
 * and each row's zero point comes off afterwards through the weights' column sums:
 * Σ (q − z)·W = Σ q·W − z·colsum(W).
 */
function matmulPerToken(b: Builder, name: string, a: Value, w: QWeight, colsum: Value, bias: Value | null): Value {
  const axis = b.constI64([-1]);
  const hi = b.op('Max', [b.op('ReduceMax', [a, axis], { keepdims: 1 }, { name: `${name}/row_max` }), b.scalarF32(0)], {}, { name: `${name}/row_max_0` });
  const lo = b.op('Min', [b.op('ReduceMin', [a, axis], { keepdims: 1 }, { name: `${name}/row_min` }), b.scalarF32(0)], {}, { name: `${name}/row_min_0` });
  const range = b.op('Max', [b.op('Sub', [hi, lo], {}, { name: `${name}/row_range` }), b.scalarF32(1e-12)], {}, { name: `${name}/row_range_floor` });
  const scale = b.op('Div', [range, b.scalarF32(255)], {}, { name: `${name}/row_scale` });
  const zp = b.op('Round', [b.op('Div', [b.op('Neg', [lo], {}, { name: `${name}/neg_min` }), scale], {}, { name: `${name}/zp_real` })], {}, { name: `${name}/row_zero_point` });
  const shifted = b.op('Add', [b.op('Round', [b.op('Div', [a, scale], {}, { name: `${name}/scale_rows` })], {}, { name: `${name}/round` }), zp], {}, { name: `${name}/offset` });
  const q = b.op('Cast', [b.op('Clip', [shifted, b.scalarF32(0), b.scalarF32(255)], {}, { name: `${name}/clip` })], { to: 2 }, { name: `${name}/to_uint8` });
  const acc = b.op('Cast', [b.op('MatMulInteger', [q, w.q], {}, { name: `${name}/MatMulInteger` })], { to: 1 }, { name: `${name}/cast` });
  const centred = b.op('Sub', [acc, b.op('Mul', [zp, colsum], {}, { name: `${name}/zero_point_sums` })], {}, { name: `${name}/sub_zero_point` });
  const rows = b.op('Mul', [centred, scale], {}, { name: `${name}/row_dequantize` });
  const y = b.op('Mul', [rows, w.scale], {}, { name: `${name}/dequantize` });
  return bias ? b.op('Add', [y, bias], {}, { name: `${name}/bias` }) : y;
}

/** Σ over K of each output channel's int8 codes ([N] float), for a [K, N] weight or [N, K] table rows. */
function columnSums(t: Tensor, inAxis: number): Float32Array {
  const [r, c] = t.dims, q = t.data as Int8Array;
  const out = new Float32Array(inAxis === 0 ? c : r);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[inAxis === 0 ? j : i] += q[i * c + j];
  return out;
}

function qgemmTransB(b: Builder, g: Graph, name: string, a: Value, w: QWeight, bias: Value | null): Value {
  const [aq, as, azp] = b.opN('DynamicQuantizeLinear', [a], 3, {}, { name: `${name}/DynamicQuantizeLinear` });
  const n = w.scale.constant!.size;
  const zp = w.zeroPoint ?? g.addInitializer(g.uniqueName(`${w.q.name}_zero_point`), new Tensor('int8', w.scale.constant!.dims, new Int8Array(n)));
  return b.op('QGemm', [aq, as, azp, w.q, w.scale, zp, bias], { transB: 1 }, { name: `${name}/QGemm`, domain: 'com.microsoft' });
}
