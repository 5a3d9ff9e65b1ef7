import type { GradRule } from '../context.js';

/** y[i] = data[.., indices[i], ..]: scatter-add g into zeros at the same indices. */
export const gatherElements: GradRule = {
  op: 'GatherElements',
  grad: (c) => [
    c.op('ScatterElements', [c.zerosLike(c.input(0)), c.input(1), c.g], { axis: c.attrInt('axis', 0), reduction: 'add' }),
    null,
  ],
};
