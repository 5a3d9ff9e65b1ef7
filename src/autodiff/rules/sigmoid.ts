import type { GradRule } from '../context.js';

/** g·y·(1 - y). */
export const sigmoid: GradRule = {
  op: 'Sigmoid',
  grad: (c) => { const y = c.output(0); return [c.op('Mul', [c.g, c.op('Mul', [y, c.op('Sub', [c.scalar(1, y), y])])])]; },
};
