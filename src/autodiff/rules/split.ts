import type { GradRule } from '../context.js';

/** Concatenate the output gradients along the split axis (zeros for outputs no gradient reaches). */
export const split: GradRule = {
  op: 'Split',
  grad: (c) => {
    const parts = c.node.outputs.map((o, i) => c.gy[i] ?? c.zerosLike(o));
    return [c.op('Concat', parts, { axis: c.attrInt('axis', 0) }), null];
  },
};
