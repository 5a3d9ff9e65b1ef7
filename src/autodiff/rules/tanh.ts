import type { GradRule } from '../context.js';

/** g·(1 - y²). */
export const tanh: GradRule = {
  op: 'Tanh',
  grad: (c) => { const y = c.output(0); return [c.op('Mul', [c.g, c.op('Sub', [c.scalar(1, y), c.op('Mul', [y, y])])])]; },
};
