import { dtypeCode, type DType } from '../ir/dtype.js';
import { cloneModel, type Graph, type Model, type Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { UsageError } from '../util/errors.js';
import { f32ToBf16, f32ToF16 } from '../util/half.js';
import { toFloat32 } from '../hf/safetensors.js';
import { emptyReport, modelCtx, type MethodConfig, type PassContext, type PassResult, type QuantMethod } from './pass.js';
import { inferDtypes } from '../ir/types.js';
import { activationRanges, type ActivationRange } from './fp16-overflow.js';
import { loadCalibrationText } from '../quant/calibration/source.js';

/**
 * FP16 / BF16 conversion ("mixed precision"). Float weights are stored in the half type; with
 * compute 'half' the ops run on half values too, except a block list of numerically fragile ops
 * and nodes, which stay FP32 behind Casts. Graph inputs and outputs (including the KV cache) stay
 * FP32, so every runner and `quantlab eval` work unchanged; the Casts at the cache boundary cost
 * one conversion of the cache per step (transformers.js fp16 exports keep a float16 cache instead).
 * With compute 'float' (the default) only storage is half: each weight is read through a Cast to FP32,
 * which onnxruntime folds into an FP32 initializer at load, i.e. FP32 speed at half the file size.
 * onnxruntime's CPU provider has no FP16 GEMM, so compute 'half' is for GPU / WebGPU targets (the
 * transformers.js export's fp16 and q4f16 files): on CPU it adds Casts and runs slower than FP32.
 */
export interface Fp16Config extends MethodConfig {
  kind: 'fp16' | 'bf16';
  compute: 'half' | 'float';
  /** Op types kept in FP32 (normalisation reductions, softmax). */
  keepFloatOps: string[];
  /** Node-name regular expressions kept in FP32 (default: the LM head, so logits are computed in FP32). */
  keepFloatNodes: string[];
  /** Initializers read only by FP32 nodes and smaller than this many elements stay FP32 (norm weights, scalars). */
  minHalfElements: number;
  /**
   * Run the FP32 graph on calibration text first and report every activation beyond the half
   * range (notes + explain); `activationRanges` is the same check as a function.
   */
  overflowCheck: boolean;
  /** Calibration text for the overflow check: dataset, split and token count. */
  calibration: string;
  calibSplit: string;
  calibTokens: number;
}

export const FP16_MAX = 65504;
/** Largest finite bfloat16. */
export const BF16_MAX = 3.3895313892515355e38;

const DEFAULT_KEEP_OPS = ['LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'RMSNormalization', 'Softmax', 'LogSoftmax', 'ReduceMean', 'Pow'];

function defaults(kind: Fp16Config['kind']): Fp16Config {
  return { kind, compute: 'float', keepFloatOps: DEFAULT_KEEP_OPS, keepFloatNodes: ['^/lm_head/'], minHalfElements: 4096, overflowCheck: false, calibration: 'brown', calibSplit: 'train', calibTokens: 4096 };
}

type Mode = 'half' | 'float' | 'none';

/** Convert float32 data to the half type's raw uint16, clamping into its finite range. Returns how many were clamped. */
export function toHalf(x: Float32Array, half: 'float16' | 'bfloat16'): { data: Uint16Array; clamped: number } {
  const max = half === 'float16' ? FP16_MAX : BF16_MAX;
  const conv = half === 'float16' ? f32ToF16 : f32ToBf16;
  const data = new Uint16Array(x.length);
  let clamped = 0;
  for (let i = 0; i < x.length; i++) {
    let v = x[i];
    if (v > max) { v = max; clamped++; } else if (v < -max) { v = -max; clamped++; }
    data[i] = conv(v);
  }
  return { data, clamped };
}

export function runFp16(model: Model, config: Fp16Config, ctx: PassContext): PassResult {
  const c = { ...defaults(config.kind), ...config };
  if (c.compute !== 'half' && c.compute !== 'float') throw new UsageError(`${c.kind}: compute must be half or float, got '${c.compute}'`);
  // Measured (onnxruntime-node 1.30): the CPU provider has no bfloat16 kernels (Where, Add, MatMul, ...).
  if (c.kind === 'bf16' && c.compute === 'half') throw new UsageError("bf16: compute 'half' is not supported by onnxruntime's CPU provider (no bfloat16 kernels); use compute 'float' (bf16 storage)");
  const half: DType = c.kind === 'fp16' ? 'float16' : 'bfloat16';
  const keepNodes = c.keepFloatNodes.map((p) => { try { return new RegExp(p); } catch (e) { throw new UsageError(`${c.kind}: invalid node pattern '${p}': ${(e as Error).message}`); } });
  const keepOps = new Set(c.keepFloatOps);
  const m = cloneModel(model);
  const g = m.graph;
  const report = emptyReport();
  const types = inferDtypes(g);
  const isF32 = (v: Value | null) => !!v && types.get(v) === 'float32';

  // 1. Each node runs in half, in float (kept), or touches no float32 value.
  const mode = new Map<Node, Mode>();
  for (const n of g.nodes) {
    const touches = n.inputs.some(isF32) || n.outputs.some(isF32) || (n.opType === 'Cast' && n.attr('to', 'int') === dtypeCode('float32'));
    let md: Mode = touches ? 'half' : 'none';
    if (touches && (c.compute === 'float' || n.domain !== '' || keepOps.has(n.opType) || keepNodes.some((r) => r.test(n.name)))) md = 'float';
    mode.set(n, md);
    if (touches && md === 'float' && c.compute === 'half') ctx.explain(`${n.opType} ${n.name}: kept FP32`);
  }

  // 2. Initializers: half storage for half readers; big ones read by FP32 nodes through a Cast (folded at load).
  const halfCopies = new Map<Value, Value>();
  const castCopies = new Map<Value, Value>();
  let clampedTotal = 0;
  const halfOf = (v: Value): Value => {
    let h = halfCopies.get(v);
    if (!h) {
      const { data, clamped } = toHalf(toFloat32(v.constant!).data as Float32Array, half as 'float16');
      if (clamped) { clampedTotal += clamped; ctx.explain(`${v.name}: ${clamped} values clamped into the ${half} range`); }
      h = g.addInitializer(g.uniqueName(`${v.name}_${c.kind}`), new Tensor(half, [...v.constant!.dims], data));
      halfCopies.set(v, h);
      report.converted.push(v.name);
    }
    return h;
  };
  for (const v of g.initializers()) {
    if (types.get(v) !== 'float32') continue;
    for (const u of [...v.uses]) {
      const md = mode.get(u.node)!;
      if (md === 'half') g.setInput(u.node, u.index, halfOf(v));
      else if (md === 'float' && v.constant!.size >= c.minHalfElements) {
        let f = castCopies.get(v);
        if (!f) {
          f = g.addNode('Cast', [halfOf(v)], [`${v.name}_to_fp32`], { name: `${v.name}_Cast`, attrs: { to: { t: 'int', v: dtypeCode('float32') } } }).outputs[0];
          castCopies.set(v, f);
        }
        g.setInput(u.node, u.index, f);
      }
    }
  }
  for (const [n, md] of mode) {
    if (md !== 'half') continue;
    if (n.opType === 'Cast' && n.attr('to', 'int') === dtypeCode('float32')) n.attrs.to = { t: 'int', v: dtypeCode(half) };
    for (const key of ['value']) {
      const a = n.attrs[key];
      if (a?.t === 'tensor' && a.v.dtype === 'float32') n.attrs[key] = { t: 'tensor', v: new Tensor(half, [...a.v.dims], toHalf(a.v.data as Float32Array, half as 'float16').data) };
    }
  }

  // 3. Activations: a Cast wherever a value crosses between a half and a float side.
  const producedHalf = (v: Value) => v.producer !== null && mode.get(v.producer) === 'half' && isF32(v);
  const castTo = (v: Value, to: DType, cache: Map<Value, Value>, tag: string): Value => {
    let x = cache.get(v);
    if (!x) {
      x = g.addNode('Cast', [v], [`${v.name}_${tag}`], { name: `${v.name}_Cast_${tag}`, attrs: { to: { t: 'int', v: dtypeCode(to) } } }).outputs[0];
      cache.set(v, x);
    }
    return x;
  };
  const toHalfCache = new Map<Value, Value>(), toFloatCache = new Map<Value, Value>();
  const values = [...g.allValues()];
  for (const v of values) {
    // Values this pass created have no entry in `types`, so isF32 skips them.
    if (v.constant || !isF32(v)) continue;
    const fromHalf = producedHalf(v);
    for (const u of [...v.uses]) {
      const md = mode.get(u.node);
      if (md === undefined) continue; // a Cast added by this pass
      if (md === 'half' && !fromHalf) g.setInput(u.node, u.index, castTo(v, half, toHalfCache, c.kind));
      else if (md === 'float' && fromHalf) g.setInput(u.node, u.index, castTo(v, 'float32', toFloatCache, 'fp32'));
    }
    const oi = g.outputs.indexOf(v);
    if (fromHalf && oi >= 0) {
      // The graph output keeps its name and FP32 type; the half value is renamed.
      const name = v.name;
      const type = v.type;
      g.renameValue(v, g.uniqueName(`${name}_${c.kind}`));
      v.type = undefined;
      const out = castTo(v, 'float32', toFloatCache, 'fp32');
      g.renameValue(out, name);
      out.type = type;
      g.outputs[oi] = out;
    }
  }
  // Intermediate value types recorded by builders would now be wrong: drop those that changed.
  for (const v of g.allValues()) if (v.type && !g.outputs.includes(v) && !g.inputs.includes(v) && producedHalf(v)) v.type = undefined;

  const removed = removeRoundTripCasts(g, half);
  g.removeDeadNodes();
  g.removeUnusedInitializers();
  g.sortTopologically();
  if (clampedTotal) report.notes.push(`${clampedTotal} constant values clamped into the ${half} range`);
  if (removed) report.notes.push(`${removed} redundant Cast pairs removed`);
  const kept = [...mode].filter(([, md]) => md === 'float').length;
  report.notes.push(`compute ${c.compute}: ${[...mode.values()].filter((x) => x === 'half').length} nodes in ${half}, ${kept} in float32`);
  m.metadata['quantlab.method'] = JSON.stringify(c);
  return { model: m, report };
}

/** Cast(Cast(x: half → float32) → half) is x: drop such pairs (lossless, since float32 holds every half value). */
export function removeRoundTripCasts(g: Graph, half: DType): number {
  let n = 0;
  const types = inferDtypes(g);
  for (const node of [...g.nodes]) {
    if (node.opType !== 'Cast' || node.attr('to', 'int') !== dtypeCode(half)) continue;
    const inner = node.inputs[0]?.producer;
    if (!inner || inner.opType !== 'Cast' || inner.attr('to', 'int') !== dtypeCode('float32')) continue;
    const x = inner.inputs[0]!;
    if (types.get(x) !== half || g.outputs.includes(node.outputs[0])) continue;
    g.replaceAllUses(node.outputs[0], x);
    n++;
  }
  return n;
}

/** The pass context as `quantize` provides it: methods that run text through the model read the tokenizer. */
type TextContext = PassContext & { tokenizer?: { encode(text: string): number[] } };

export async function runFp16Method(model: Model, config: Fp16Config, ctx: TextContext): Promise<PassResult> {
  const c = { ...defaults(config.kind), ...config };
  const result = runFp16(model, c, ctx);
  if (!c.overflowCheck) return result;
  if (!ctx.tokenizer) throw new UsageError(`${c.kind}: the overflow check needs the model tokenizer to read calibration text`);
  const ds = loadCalibrationText(c.calibration, c.calibSplit);
  const tokens = ctx.tokenizer.encode(ds.text.slice(0, 64 * c.calibTokens)).slice(0, c.calibTokens);
  // Windows no longer than the model's positions (recorded by the graph builder).
  const win = Math.min(256, modelCtx(model) ?? 256);
  const { overflows, ranges, tokensRun } = await activationRanges(model, tokens, { limit: c.kind === 'fp16' ? FP16_MAX : BF16_MAX, ctx: win, maxWindows: Math.ceil(c.calibTokens / win), engine: ctx.engine });
  const top = (xs: ActivationRange[]) => xs.slice(0, 3).map((o) => `${o.value} ${o.maxAbs.toPrecision(4)}`).join(', ');
  result.report.notes.push(overflows.length
    ? `overflow check (${ds.name}, ${tokensRun} tokens): ${overflows.length} activations exceed the ${c.kind} range: ${top(overflows)}`
    : `overflow check (${ds.name}, ${tokensRun} tokens): no activation exceeds the ${c.kind} range; largest ${top(ranges)}`);
  for (const o of overflows) ctx.explain(`${o.op} ${o.node}: |max| ${o.maxAbs} exceeds the ${c.kind} range (add it to keepFloatNodes)`);
  return result;
}

function method(kind: Fp16Config['kind'], summary: string): QuantMethod<Fp16Config> {
  return { kind, summary, defaults: defaults(kind), run: (model, config, ctx) => runFp16Method(model, config, ctx) };
}

export const fp16 = method('fp16', 'FP16 weights and compute, FP32 I/O, fragile ops (norms, softmax, LM head) kept FP32');
export const bf16 = method('bf16', 'BF16 weight storage (onnxruntime CPU has no BF16 kernels: computed in FP32)');
