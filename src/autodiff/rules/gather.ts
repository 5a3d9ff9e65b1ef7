import type { GradRule } from '../context.js';
import { scatterIntoFlat } from './scatter-flat.js';

/**
 * y = data[indices] along `axis`. Axis 0 (embeddings): scatter-add g rows into zeros with ScatterND,
 * negative indices wrapped first. Other axes: gather the flat positions of data the same way, then
 * scatter-add g at those positions.
 */
export const gather: GradRule = {
  op: 'Gather',
  grad: (c) => {
    const data = c.input(0);
    let idx = c.input(1);
    const axis = c.attrInt('axis', 0);
    const r = c.rank(data);
    if (axis === 0 || (r !== undefined && axis === -r)) {
      if (c.dtype(idx) !== 'int64') idx = c.op('Cast', [idx], { to: 7 });
      const n = c.op('Gather', [c.shape(data), c.intScalar(0)], { axis: 0 });
      const wrapped = c.op('Where', [c.op('Less', [idx, c.intScalar(0)]), c.op('Add', [idx, n]), idx]);
      const pos = c.op('Unsqueeze', [wrapped, c.ints([-1])]);
      return [c.op('ScatterND', [c.zerosLike(data), pos, c.g], { reduction: 'add' }), null];
    }
    const flatPos = (ids: typeof data) => c.op('Gather', [ids, idx], { axis });
    return [scatterIntoFlat(c, data, flatPos, true), null];
  },
};
