import type { GradRule } from '../context.js';

/** Transpose back with the inverse permutation. */
export const transpose: GradRule = {
  op: 'Transpose',
  grad: (c) => {
    const perm = c.node.attr('perm', 'ints') ?? reversed(c.mustRank(c.input(0)));
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => { inv[p] = i; });
    return [c.op('Transpose', [c.g], { perm: inv })];
  },
};

const reversed = (r: number): number[] => Array.from({ length: r }, (_, i) => r - 1 - i);
