import type { GradRule } from '../context.js';

/** y = 1/x: -g·y². */
export const reciprocal: GradRule = {
  op: 'Reciprocal',
  grad: (c) => { const y = c.output(0); return [c.op('Neg', [c.op('Mul', [c.g, c.op('Mul', [y, y])])])]; },
};
