import type { GradRule } from '../context.js';

/** dx = g - exp(y)·Σ_axis g. */
export const logSoftmax: GradRule = {
  op: 'LogSoftmax',
  grad: (c) => {
    const s = c.op('ReduceSum', [c.g, c.ints([c.attrInt('axis', -1)])], { keepdims: 1 });
    return [c.op('Sub', [c.g, c.op('Mul', [c.op('Exp', [c.output(0)]), s])])];
  },
};
