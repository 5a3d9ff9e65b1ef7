import type { Value } from '../../ir/graph.js';
import { type GradContext, makeTensor } from '../context.js';

/**
 * Gradient of a selection op (Slice, Gather on a non-leading axis): apply the same selection to
 * the flat positions 0..|x|-1 reshaped like x, then scatter g into a zero vector at those positions.
 */
export function scatterIntoFlat(c: GradContext, x: Value, select: (positions: Value) => Value, accumulate: boolean): Value {
  const size = c.op('Size', [x]);
  const positions = c.op('Reshape', [c.op('Range', [c.intScalar(0), size, c.intScalar(1)]), c.shape(x)]);
  const picked = c.op('Unsqueeze', [c.op('Reshape', [select(positions), c.ints([-1])]), c.ints([-1])]);
  const zeros = c.op('ConstantOfShape', [c.op('Unsqueeze', [size, c.ints([0])])], { value: makeTensor(c.dtype(x), [1], [0]) });
  const flat = c.op('ScatterND', [zeros, picked, c.op('Reshape', [c.g, c.ints([-1])])], accumulate ? { reduction: 'add' } : {});
  return c.op('Reshape', [flat, c.shape(x)]);
}
