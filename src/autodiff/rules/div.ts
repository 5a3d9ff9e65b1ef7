import type { GradRule } from '../context.js';

/** y = a / b: g/b and -(g/b)·y (= -g·a/b²). */
export const div: GradRule = {
  op: 'Div',
  grad: (c) => {
    const a = c.input(0), b = c.input(1);
    const gb = c.op('Div', [c.g, b]);
    return [
      c.needs(0) ? c.unbroadcast(gb, a) : null,
      c.needs(1) ? c.op('Neg', [c.unbroadcast(c.op('Mul', [gb, c.output(0)]), b)]) : null,
    ];
  },
};
