import { dtypeCode } from '../../ir/dtype.js';
import type { GradRule } from '../context.js';
import { isFloat } from '../../ir/types.js';

/** Float-to-float casts pass g back in the input's type; casts from integers carry no gradient. */
export const cast: GradRule = {
  op: 'Cast',
  grad: (c) => {
    const d = c.dtype(c.input(0));
    return [isFloat(d) ? c.op('Cast', [c.g], { to: dtypeCode(d) }) : null];
  },
};
