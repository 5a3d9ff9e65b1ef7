import type { GradRule } from '../context.js';

/**
 * dx = g - softmax(x)·Σ_axis g (softmax recomputed: cheaper than exp(y) on large vocabularies).
 * When g is a scatter-add into zeros along the same axis (cross-entropy: GatherElements of the
 * labels), Σ g is the sum of the scattered updates and dx = scatter_add(-softmax(x)·Σ upd, upd),
 * so the dense one-hot gradient is never built.
 */
export const logSoftmax: GradRule = {
  op: 'LogSoftmax',
  grad: (c) => {
    const x = c.input(0);
    const axis = c.attrInt('axis', -1);
    const p = c.op('Softmax', [x], { axis });
    const sc = c.sparseScatter(c.g);
    const r = c.rank(x);
    const norm = (a: number) => (a < 0 && r !== undefined ? a + r : a);
    if (sc && sc.opType === 'ScatterElements' && norm(sc.attr('axis', 'int') ?? 0) === norm(axis) && r !== undefined) {
      const [, idx, upd] = sc.inputs;
      const s = c.op('ReduceSum', [upd!, c.ints([axis])], { keepdims: 1 });
      return [c.op('ScatterElements', [c.op('Mul', [p, c.op('Neg', [s])]), idx!, upd!], { axis: sc.attr('axis', 'int') ?? 0, reduction: 'add' })];
    }
    const s = c.op('ReduceSum', [c.g, c.ints([axis])], { keepdims: 1 });
    return [c.op('Sub', [c.g, c.op('Mul', [p, s])])];
  },
};
