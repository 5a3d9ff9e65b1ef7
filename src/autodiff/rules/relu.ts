import type { GradRule } from '../context.js';

/** g where x > 0, else 0. */
export const relu: GradRule = {
  op: 'Relu',
  grad: (c) => { const x = c.input(0); return [c.op('Where', [c.op('Greater', [x, c.scalar(0, x)]), c.g, c.scalar(0, x)])]; },
};
