import type { GradRule } from '../context.js';

/** y = a - b: g and -g (negated after the reduction, on the smaller tensor). */
export const sub: GradRule = {
  op: 'Sub',
  grad: (c) => [
    c.needs(0) ? c.unbroadcast(c.g, c.input(0)) : null,
    c.needs(1) ? c.op('Neg', [c.unbroadcast(c.g, c.input(1))]) : null,
  ],
};
