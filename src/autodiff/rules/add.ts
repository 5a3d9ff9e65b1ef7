import type { GradRule } from '../context.js';

/** y = a + b: both get g, summed back over broadcast axes. */
export const add: GradRule = {
  op: 'Add',
  grad: (c) => [c.needs(0) ? c.unbroadcast(c.g, c.input(0)) : null, c.needs(1) ? c.unbroadcast(c.g, c.input(1)) : null],
};
