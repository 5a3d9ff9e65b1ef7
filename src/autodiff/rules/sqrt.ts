import type { GradRule } from '../context.js';

/** y = √x: g / (2y). */
export const sqrt: GradRule = {
  op: 'Sqrt',
  grad: (c) => [c.op('Div', [c.op('Mul', [c.g, c.scalar(0.5, c.g)]), c.output(0)])],
};
