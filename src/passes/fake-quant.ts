import { Builder } from '../ir/builder.js';
import { cloneModel, type Model, type Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { runProbe } from '../quant/calibration/collect.js';
import type { SessionOptions } from '../runtime/session.js';
import { UsageError } from '../util/errors.js';
import { engineOf, type PassEngine } from './engine.js';

export interface FakeQuantOptions {
  /**
   * Weight nodes to fake-quantize: MatMuls with a 2-D float B (per output column) and Gemm(transB=1)
   * heads (per row of the stored [N, K] table). Default: every MatMul whose B is a 2-D float32 initializer.
   */
  nodes?: string[];
  /**
   * Tables read per row (e.g. embedding tables stored in int8 with a scale per row): fake-quantized per
   * row once, for every consumer (a tied embedding and head share it). reduceRange: codes -64..64.
   */
  tables?: { name: string; reduceRange: boolean }[];
  /**
   * Symmetric per-tensor activation ranges (max |x|) by MatMul input name: those inputs get a
   * QuantizeLinear→DequantizeLinear with a learnable scale range/127. Inputs without one stay float.
   */
  activationRanges?: Map<string, number>;
  /**
   * Weight codes as static-int8 writes them: reduce_range (default) uses -64..64, i.e.
   * scale = (max|w|/127)·(127/64) per output channel, computed in float32 the same way.
   */
  reduceRange?: boolean;
}

export interface FakeQuantModel {
  model: Model;
  /** Activation scale initializers (train them for LSQ). */
  activationScales: string[];
  /** The activation (MatMul input) each scale initializer quantizes: scale name → value name. */
  activationOf: Map<string, string>;
  /** Weight-scale values computed from the weights: pass as stopGradient (they follow the weights). */
  weightScales: string[];
  /** The fake-quantized weight nodes. */
  nodes: string[];
}

/** MatMuls with a constant 2-D float32 weight as B. */
export function weightMatMuls(m: Model): Node[] {
  return m.graph.nodes.filter((n) => n.opType === 'MatMul' && n.inputs[1]?.constant?.dtype === 'float32' && n.inputs[1].constant.dims.length === 2);
}

const isRowHead = (n: Node) => n.opType === 'Gemm' && n.attr('transB', 'int') === 1 && !n.attr('transA', 'int') && n.inputs[1]?.constant?.dtype === 'float32';

/**
 * Insert fake quantization for quantization-aware training: int8 weights per output channel with
 * scales recomputed from the current weights in the graph (exactly the symmetric max-abs choice the
 * int8 writers make), and int8 per-tensor activations with learnable scales. Gradients pass the
 * rounding by the straight-through estimator (autodiff's QuantizeLinear rule).
 */
export function insertFakeQuant(input: Model, opts: FakeQuantOptions = {}): FakeQuantModel {
  const model = cloneModel(input);
  const g = model.graph;
  const b = new Builder(g);
  const wanted = opts.nodes ? new Set(opts.nodes) : null;
  const matmuls = weightMatMuls(model);
  const isMatMul = new Set(matmuls);
  const nodes = wanted ? g.nodes.filter((n) => wanted.has(n.name) && (isMatMul.has(n) || isRowHead(n))) : matmuls;
  if (wanted && nodes.length !== wanted.size) {
    const missing = [...wanted].filter((n) => !nodes.some((x) => x.name === n));
    throw new UsageError(`fake-quant: not a MatMul with a 2-D float weight or a Gemm(transB) head: ${missing.join(', ')}`);
  }
  const reduce = opts.reduceRange ?? true;
  const activationScales: string[] = [];
  const activationOf = new Map<string, string>();
  const weightScales: string[] = [];
  const actDq = new Map<string, Value>();
  /** Q→DQ of weight w with one scale per slice along `axis` (1: per column of [K, N]; 0: per row). */
  const fakeWeight = (w: Value, axis: 0 | 1, reduceRange: boolean): Value => b.scope(`fake_quant/${w.name}`, () => {
    const n = w.constant!.dims[axis];
    const amax = b.op('ReduceMax', [b.op('Abs', [w]), b.constI64([1 - axis])], { keepdims: 0 });
    let s = b.op('Div', [amax, b.scalarF32(127)]);
    if (reduceRange) s = b.op('Mul', [s, b.scalarF32(127 / 64)]);
    s = b.op('Where', [b.op('Greater', [amax, b.scalarF32(0)]), s, b.scalarF32(1)]);
    weightScales.push(s.name);
    const zp = g.addInitializer(g.uniqueName(`${w.name}_qat_zero_point`), new Tensor('int8', [n], new Int8Array(n)));
    return b.op('DequantizeLinear', [b.op('QuantizeLinear', [w, s, zp], { axis }), s, zp], { axis });
  });
  // Row-quantized tables: one fake-quantized copy read by every consumer (tied embedding + head).
  const rows = new Set<string>();
  const rowTable = (w: Value, reduceRange: boolean): void => {
    if (rows.has(w.name)) return;
    rows.add(w.name);
    const uses = [...w.uses];
    const fq = fakeWeight(w, 0, reduceRange);
    for (const u of uses) g.setInput(u.node, u.index, fq);
  };
  const weights = new Map(nodes.map((n) => [n, n.inputs[1]!]));
  for (const t of opts.tables ?? []) rowTable(g.mustValue(t.name), t.reduceRange);
  for (const node of nodes) {
    if (node.opType === 'Gemm') rowTable(weights.get(node)!, reduce);
    else g.setInput(node, 1, fakeWeight(weights.get(node)!, 1, reduce));
    const x = node.inputs[0]!;
    const range = opts.activationRanges?.get(x.name);
    if (range === undefined) continue;
    let dq = actDq.get(x.name);
    if (!dq) {
      dq = b.scope(`fake_quant/${x.name}`, () => {
        const s = g.addInitializer(g.uniqueName(`${x.name}_qat_scale`), Tensor.scalarF32(range > 0 ? range / 127 : 1));
        activationScales.push(s.name);
        activationOf.set(s.name, x.name);
        const zp = g.addInitializer(g.uniqueName(`${x.name}_qat_zero_point`), new Tensor('int8', [], Int8Array.of(0)));
        return b.op('DequantizeLinear', [b.op('QuantizeLinear', [x, s, zp]), s, zp]);
      });
      actDq.set(x.name, dq);
    }
    g.setInput(node, 0, dq);
  }
  g.sortTopologically();
  return { model, activationScales, activationOf, weightScales, nodes: nodes.map((x) => x.name) };
}

/** max |x| of each named value over token windows (the one activation probe): calibration for activation scales. */
export async function maxAbsRanges(m: Model, values: string[], windows: ArrayLike<number>[], opts: { engine?: PassEngine; session?: SessionOptions } = {}): Promise<Map<string, number>> {
  const out = new Map<string, number>(values.map((v) => [v, 0]));
  await runProbe(m, windows, values, () => {}, (v, t) => {
    let mx = out.get(v)!;
    for (let i = 0; i < t.data.length; i++) { const a = Math.abs(t.data[i]); if (a > mx) mx = a; }
    out.set(v, mx);
  }, { engine: engineOf(opts, 'maxAbsRanges'), session: opts.session });
  return out;
}
