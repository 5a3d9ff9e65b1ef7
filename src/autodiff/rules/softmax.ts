import type { GradRule } from '../context.js';

/** dx = y·(g - Σ_axis g·y). */
export const softmax: GradRule = {
  op: 'Softmax',
  grad: (c) => {
    const y = c.output(0);
    const s = c.op('ReduceSum', [c.op('Mul', [c.g, y]), c.ints([c.attrInt('axis', -1)])], { keepdims: 1 });
    return [c.op('Mul', [y, c.op('Sub', [c.g, s])])];
  },
};
