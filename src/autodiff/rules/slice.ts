import type { GradRule } from '../context.js';
import { scatterIntoFlat } from './scatter-flat.js';

/** Scatter g back to the positions the slice read (any steps, negative indices, clamping). */
export const slice: GradRule = {
  op: 'Slice',
  grad: (c) => {
    const rest = c.node.inputs.slice(1);
    return [scatterIntoFlat(c, c.input(0), (pos) => c.op('Slice', [pos, ...rest]), false), null, null, null, null];
  },
};
