import type { GradRule } from '../context.js';

/** Split g along the concat axis into pieces the sizes of the inputs (read at run time). */
export const concat: GradRule = {
  op: 'Concat',
  grad: (c) => {
    const axis = c.attrInt('axis', 0);
    const n = c.node.inputs.length;
    const sizes = c.node.inputs.map((x, i) => {
      const s = c.staticShape(c.input(i));
      const r = c.rank(x!);
      if (s) return c.ints([s[axis < 0 ? axis + s.length : axis]]);
      return c.op('Gather', [c.shape(x!), c.ints([axis < 0 && r !== undefined ? axis + r : axis])], { axis: 0 });
    });
    const sizeVec = sizes.length === 1 ? sizes[0] : c.op('Concat', sizes, { axis: 0 });
    return n === 1 ? [c.g] : c.opN('Split', [c.g, sizeVec], n, { axis });
  },
};
