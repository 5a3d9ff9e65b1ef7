import type { DType } from './dtype.js';
import { dtypeFromCode } from './dtype.js';
import type { Graph, Node, Value } from './graph.js';
import type { Tensor } from './tensor.js';
import { inferShapes, type SymDim, type SymInfo, valueShape } from './shapes.js';

/**
 * What the engine knows statically about a value: its element type, its rank where known,
 * and for 1-D int64 tensors (shape vectors) their length where known, so Reshape/Expand ranks follow.
 */
export interface TypeInfo { dtype?: DType; rank?: number; len?: number }

export const FLOAT_TYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

export const isFloat = (d: DType | undefined): boolean => d !== undefined && FLOAT_TYPES.has(d);

const BOOL_OPS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const SAME_AS_FIRST = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Neg', 'Sqrt', 'Exp', 'Log', 'Abs', 'Reciprocal', 'Relu', 'Sigmoid', 'Tanh', 'Erf',
  'Gelu', 'Cos', 'Sin', 'Softmax', 'LogSoftmax', 'Identity', 'Transpose', 'Slice', 'Max', 'Min', 'Sum', 'Sign', 'Floor',
  'Ceil', 'Round', 'Clip', 'ScatterND', 'ScatterElements', 'Pad', 'Mod', 'CumSum',
]);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mod', ...BOOL_OPS]);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare', 'ReduceL2']);

/** int64 values of a constant (initializer) input, or undefined. */
export function constInts(v: Value | null | undefined): number[] | undefined {
  const t = v?.constant;
  if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32')) return undefined;
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Static type inference over the ops quantlab graphs and gradient graphs use; unknown stays undefined. */
export class TypeTable {
  private readonly info = new Map<Value, TypeInfo>();
  private readonly sym = new Map<Value, SymInfo>();

  /**
   * `assumeFirstInput`: an output whose type no rule gives takes its node's first input's type, which
   * holds for the elementwise and contrib ops our graphs use (what the fp16 pass needs: a dtype for
   * every value); without it such outputs stay unknown (what the autodiff engine needs: no guesses).
   */
  constructor(graph: Graph, private readonly assumeFirstInput = false) {
    for (const v of graph.inputs) this.addValue(v);
    for (const v of graph.initializers()) this.addValue(v);
    for (const n of graph.nodes) this.inferNode(n);
  }

  /** Record a graph input or initializer. */
  addValue(v: Value): void {
    this.sym.set(v, valueShape(v));
    if (v.constant) {
      const t: Tensor = v.constant;
      this.info.set(v, { dtype: t.dtype, rank: t.dims.length, len: t.dims.length === 1 ? t.dims[0] : undefined });
    } else if (v.type) {
      const shape = v.type.shape;
      const len = shape?.length === 1 && typeof shape[0] === 'number' ? shape[0] : undefined;
      this.info.set(v, { dtype: v.type.dtype, rank: shape?.length, len });
    }
  }

  get(v: Value): TypeInfo { return this.info.get(v) ?? {}; }
  dtype(v: Value): DType | undefined { return this.get(v).dtype; }
  rank(v: Value): number | undefined { return this.get(v).rank; }
  /** Symbolic shape (numbers, dim names, unique unknowns), where inferable. */
  shape(v: Value): SymDim[] | undefined { return this.sym.get(v)?.shape; }

  /** Infer the outputs of `n` from its inputs (call in topological order). */
  inferNode(n: Node): void {
    const outs = inferOutputs(n, (v) => (v ? this.get(v) : {}));
    const shapes = inferShapes(n, (v) => (v ? this.sym.get(v) ?? {} : {}));
    n.outputs.forEach((o, i) => {
      const declared = o.type?.shape;
      this.sym.set(o, declared ? { shape: [...declared], value: shapes[i]?.value } : shapes[i] ?? {});
    });
    const first = n.inputs.find((v) => v);
    n.outputs.forEach((o, i) => {
      const t = outs[i] ?? (this.assumeFirstInput && first ? { dtype: this.get(first).dtype } : {});
      // A declared type (graph outputs, read models) wins for dtype; rank fills in where missing.
      if (o.type) this.info.set(o, { dtype: o.type.dtype, rank: o.type.shape?.length ?? t.rank, len: t.len });
      else this.info.set(o, t);
    });
  }
}

function maxRank(ts: TypeInfo[]): number | undefined {
  let r = 0;
  for (const t of ts) { if (t.rank === undefined) return undefined; r = Math.max(r, t.rank); }
  return r;
}

function inferOutputs(n: Node, ti: (v: Value | null) => TypeInfo): TypeInfo[] {
  const ins = n.inputs.map((v) => ti(v));
  const x = ins[0] ?? {};
  const op = n.opType;
  if (n.domain === 'com.microsoft' && op === 'DynamicQuantizeMatMul') return [{ dtype: 'float32', rank: x.rank }];
  if (n.domain !== '' && n.domain !== 'ai.onnx') return [];
  if (BOOL_OPS.has(op)) return [{ dtype: 'bool', rank: op === 'Not' ? x.rank : maxRank(ins) }];
  if (ELEMENTWISE.has(op)) return [{ dtype: x.dtype, rank: maxRank(ins) }];
  if (SAME_AS_FIRST.has(op)) return [{ dtype: x.dtype, rank: x.rank, len: x.len }];
  if (REDUCE.has(op)) {
    const keep = n.attr('keepdims', 'int') ?? 1;
    const axes = n.inputs[1] ? constInts(n.inputs[1]) : n.attr('axes', 'ints');
    if (keep) return [{ dtype: x.dtype, rank: x.rank }];
    if (!axes || axes.length === 0) return [{ dtype: x.dtype, rank: n.attr('noop_with_empty_axes', 'int') && axes ? x.rank : 0 }];
    return [{ dtype: x.dtype, rank: x.rank === undefined ? undefined : x.rank - axes.length }];
  }
  switch (op) {
    case 'Shape': {
      if (x.rank === undefined) return [{ dtype: 'int64', rank: 1 }];
      const norm = (a: number) => Math.min(Math.max(a < 0 ? a + x.rank! : a, 0), x.rank!);
      const s = norm(n.attr('start', 'int') ?? 0), e = norm(n.attr('end', 'int') ?? x.rank);
      return [{ dtype: 'int64', rank: 1, len: Math.max(e - s, 0) }];
    }
    case 'Size': return [{ dtype: 'int64', rank: 0 }];
    case 'NonZero': return [{ dtype: 'int64', rank: 2 }];
    case 'Cast': return [{ dtype: dtypeFromCode(n.attr('to', 'int')!), rank: x.rank, len: x.len }];
    case 'CastLike': return [{ dtype: ins[1]?.dtype, rank: x.rank, len: x.len }];
    case 'Range': return [{ dtype: x.dtype, rank: 1 }];
    case 'ConstantOfShape': {
      const v = n.attr('value', 'tensor');
      return [{ dtype: v?.dtype ?? 'float32', rank: x.len }];
    }
    case 'Constant': {
      const v = n.attr('value', 'tensor');
      return v ? [{ dtype: v.dtype, rank: v.dims.length, len: v.dims.length === 1 ? v.dims[0] : undefined }] : [];
    }
    case 'Gather': {
      const r = x.rank !== undefined && ins[1]?.rank !== undefined ? x.rank + ins[1].rank - 1 : undefined;
      const len = r === 1 && x.rank === 1 ? ins[1]?.len : undefined;
      return [{ dtype: x.dtype, rank: r, len }];
    }
    case 'GatherElements': return [{ dtype: x.dtype, rank: ins[1]?.rank }];
    case 'GatherND': return [{ dtype: x.dtype }];
    case 'Where': return [{ dtype: ins[1]?.dtype, rank: maxRank(ins) }];
    case 'MatMul': {
      const a = x.rank, b = ins[1]?.rank;
      if (a === undefined || b === undefined) return [{ dtype: x.dtype }];
      const r = a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b);
      return [{ dtype: x.dtype, rank: r }];
    }
    case 'Gemm': case 'Flatten': return [{ dtype: x.dtype, rank: 2 }];
    case 'Reshape': return [{ dtype: x.dtype, rank: ins[1]?.len, len: ins[1]?.len === 1 ? constInts(n.inputs[1])?.[0] : undefined }];
    case 'Expand': {
      const s = ins[1]?.len;
      return [{ dtype: x.dtype, rank: s === undefined || x.rank === undefined ? undefined : Math.max(s, x.rank) }];
    }
    case 'Unsqueeze': {
      const k = ins[1]?.len ?? (ins[1]?.rank === 0 ? 1 : undefined);
      const r = x.rank !== undefined && k !== undefined ? x.rank + k : undefined;
      return [{ dtype: x.dtype, rank: r, len: r === 1 && x.rank === 0 ? 1 : undefined }];
    }
    case 'Squeeze': {
      const axes = n.inputs[1] ? constInts(n.inputs[1]) : undefined;
      return [{ dtype: x.dtype, rank: axes && x.rank !== undefined ? x.rank - axes.length : undefined }];
    }
    case 'Concat': {
      const lens = ins.map((t) => t.len);
      const len = x.rank === 1 && lens.every((l) => l !== undefined) ? lens.reduce((s, l) => s! + l!, 0) : undefined;
      return [{ dtype: x.dtype, rank: x.rank, len }];
    }
    case 'Split': return n.outputs.map(() => ({ dtype: x.dtype, rank: x.rank }));
    case 'LayerNormalization': return [{ dtype: x.dtype, rank: x.rank }, { dtype: 'float32', rank: x.rank }, { dtype: 'float32', rank: x.rank }];
    case 'Tile': return [{ dtype: x.dtype, rank: x.rank }];
    case 'ArgMax': case 'ArgMin': return [{ dtype: 'int64' }];
    case 'QuantizeLinear': {
      const od = n.attr('output_dtype', 'int');
      return [{ dtype: ins[2]?.dtype ?? (od ? dtypeFromCode(od) : 'uint8'), rank: x.rank }];
    }
    case 'DequantizeLinear': return [{ dtype: ins[1]?.dtype, rank: x.rank }];
    case 'DynamicQuantizeLinear': return [{ dtype: 'uint8', rank: x.rank }, { dtype: 'float32', rank: 0 }, { dtype: 'uint8', rank: 0 }];
    case 'MatMulInteger': return [{ dtype: 'int32', rank: maxRank(ins.slice(0, 2)) }];
    case 'Round': return [{ dtype: x.dtype, rank: x.rank }];
    default: return [];
  }
}

/** Element type of every value (the graph in topological order), as the fp16 pass needs them: see `TypeTable`'s `assumeFirstInput`. */
export function inferDtypes(g: Graph): Map<Value, DType> {
  const table = new TypeTable(g, true);
  const out = new Map<Value, DType>();
  const put = (v: Value) => { const d = table.dtype(v); if (d) out.set(v, d); };
  for (const v of g.inputs) put(v);
  for (const v of g.initializers()) put(v);
  for (const n of g.nodes) for (const o of n.outputs) put(o);
  return out;
}
