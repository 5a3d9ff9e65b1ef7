import type { GradRule } from '../context.js';

/** y = a · b: g·b and g·a. */
export const mul: GradRule = {
  op: 'Mul',
  grad: (c) => {
    const a = c.input(0), b = c.input(1);
    return [
      c.needs(0) ? c.unbroadcast(c.op('Mul', [c.g, b]), a) : null,
      c.needs(1) ? c.unbroadcast(c.op('Mul', [c.g, a]), b) : null,
    ];
  },
};
