import { dtypeFromCode, type DType } from '../ir/dtype.js';
import type { Graph, Node, Value } from '../ir/graph.js';

const BOOL_OPS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Not', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);

/**
 * Element type of every value, propagated from graph inputs and initializers in node order
 * (the graph must be topologically sorted). Declared types (graph outputs) win; ops not listed
 * below produce the type of their first input, which holds for the ONNX ops our graphs use.
 */
export function inferDtypes(g: Graph): Map<Value, DType> {
  const t = new Map<Value, DType>();
  for (const v of g.inputs) if (v.type) t.set(v, v.type.dtype);
  for (const v of g.initializers()) t.set(v, v.constant!.dtype);
  for (const n of g.nodes) {
    const outs = outputDtypes(n, (v) => (v ? t.get(v) : undefined));
    n.outputs.forEach((o, i) => { const d = outs[i] ?? o.type?.dtype; if (d) t.set(o, d); });
  }
  return t;
}

function outputDtypes(n: Node, of: (v: Value | null | undefined) => DType | undefined): (DType | undefined)[] {
  const first = n.inputs.find((v) => v) ?? null;
  const same = () => n.outputs.map(() => of(first));
  if (n.domain === 'com.microsoft' && n.opType === 'DynamicQuantizeMatMul') return ['float32'];
  if (INT64_OPS.has(n.opType)) return n.outputs.map(() => 'int64');
  if (BOOL_OPS.has(n.opType)) return n.outputs.map(() => 'bool');
  switch (n.opType) {
    case 'Cast': return [dtypeFromCode(n.attr('to', 'int')!)];
    case 'Where': return [of(n.inputs[1])];
    case 'Constant': { const a = n.attrs.value; return [a?.t === 'tensor' ? a.v.dtype : 'float32']; }
    case 'ConstantOfShape': { const a = n.attrs.value; return [a?.t === 'tensor' ? a.v.dtype : 'float32']; }
    case 'DequantizeLinear': return [of(n.inputs[1])];
    case 'DynamicQuantizeLinear': return ['uint8', 'float32', 'uint8'];
    case 'QuantizeLinear': return [of(n.inputs[2]) ?? 'uint8'];
    case 'MatMulInteger': return ['int32'];
    case 'LayerNormalization': return [of(first), 'float32', 'float32'];
    default: return same();
  }
}

export const isFloat = (d: DType | undefined): boolean => d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
