import type { DType } from '../../ir/dtype.js';
import { dtypeCode } from '../../ir/dtype.js';
import type { Value } from '../../ir/graph.js';
import type { GradContext } from '../context.js';

/** Integer range of a quantized type. */
export function qRange(d: DType): [number, number] {
  switch (d) {
    case 'int8': return [-128, 127];
    case 'uint8': return [0, 255];
    case 'int16': return [-32768, 32767];
    case 'uint16': return [0, 65535];
    case 'int4': return [-8, 7];
    case 'uint4': return [0, 15];
    default: throw new Error(`no quantization range for ${d}`);
  }
}

/**
 * A per-tensor (scalar) or per-axis (1-D) scale or zero point, shaped to broadcast against x, and
 * the axes of x a gradient of it sums over. Blocked quantization (block_size) is not supported.
 */
export function quantParam(c: GradContext, p: Value, x: Value): { b: Value; reduceAxes: number[] | 'all' } {
  if (c.attrInt('block_size', 0)) throw c.error('blocked quantization (block_size) has no gradient rule');
  const pr = c.mustRank(p);
  if (pr === 0) return { b: p, reduceAxes: 'all' };
  const r = c.mustRank(x);
  const a = c.attrInt('axis', 1);
  const axis = a < 0 ? a + r : a;
  const others = Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis);
  return { b: others.length ? c.op('Unsqueeze', [p, c.ints(others)]) : p, reduceAxes: others };
}

/** Sum a gradient of x's shape down to the quantization parameter's shape. */
export function reduceToParam(c: GradContext, d: Value, axes: number[] | 'all'): Value {
  if (axes === 'all') return c.op('ReduceSum', [d], { keepdims: 0 });
  return axes.length ? c.op('ReduceSum', [d, c.ints(axes)], { keepdims: 0 }) : d;
}

/** Cast an integer tensor (zero point, quantized values) to the float type of `like`. */
export const toFloat = (c: GradContext, v: Value, like: Value): Value => c.op('Cast', [v], { to: dtypeCode(c.dtype(like)) });
