import type { GradRule } from '../context.js';

/** y = cond ? a : b: g routed to the chosen side, zeros elsewhere. */
export const where: GradRule = {
  op: 'Where',
  grad: (c) => {
    const cond = c.input(0), zero = c.scalar(0, c.g);
    return [
      null,
      c.needs(1) ? c.unbroadcast(c.op('Where', [cond, c.g, zero]), c.input(1)) : null,
      c.needs(2) ? c.unbroadcast(c.op('Where', [cond, zero, c.g]), c.input(2)) : null,
    ];
  },
};
