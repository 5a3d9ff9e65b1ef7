import type { GradRule } from '../context.js';

/** g·(2/√π)·exp(-x²). */
export const erf: GradRule = {
  op: 'Erf',
  grad: (c) => {
    const x = c.input(0);
    const e = c.op('Exp', [c.op('Neg', [c.op('Mul', [x, x])])]);
    return [c.op('Mul', [c.op('Mul', [c.g, c.scalar(2 / Math.sqrt(Math.PI), x)]), e])];
  },
};
