import { dtypeCode } from '../../ir/dtype.js';
import type { Value } from '../../ir/graph.js';
import type { GradContext } from '../context.js';

/**
 * Shared by ReduceSum and ReduceMean: g broadcast back over the reduced axes (re-inserted
 * with Unsqueeze when keepdims=0; negative axes work since Unsqueeze counts them on the input's rank).
 * The mean divides by |x| / |y|, computed from sizes at run time.
 */
export function reduceBack(c: GradContext, mean: boolean): Value {
  const x = c.input(0);
  const keep = c.attrInt('keepdims', 1);
  const axesIn = c.node.inputs[1];
  const axes = axesIn ? c.constInts(1) : [];
  if (!axes) throw c.error('axes must be a constant');
  if (axes.length === 0 && c.attrInt('noop_with_empty_axes', 0)) return c.g;
  let g = c.g;
  if (mean) {
    const n = c.op('Cast', [c.op('Div', [c.op('Size', [x]), c.op('Size', [c.output(0)])])], { to: dtypeCode(c.dtype(x)) });
    g = c.op('Div', [g, n]);
  }
  if (!keep && axes.length) g = c.op('Unsqueeze', [g, c.ints(axes)]);
  return c.op('Expand', [g, c.shape(x)]);
}
